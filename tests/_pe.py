"""A minimal PE32 image built byte by byte, for tests that need a Windows executable without shipping one.

Layout: a 64-byte DOS header (e_lfanew = 0x40), "PE\\0\\0", the COFF file header (i386, one section), a PE32
optional header with 16 data directories, one section header, padding to 0x200, then a 0x200-byte .text
section holding a single RET (0xC3). It is harmless and never executed; it only has to parse like a PE.
"""

from __future__ import annotations

import struct

_FILE_ALIGNMENT = 0x200
_SECTION_ALIGNMENT = 0x1000
_IMAGE_FILE_EXECUTABLE_IMAGE = 0x0002
_IMAGE_FILE_32BIT_MACHINE = 0x0100
_IMAGE_FILE_DLL = 0x2000
_CLR_DIRECTORY = 14


def minimal_pe(dll: bool = False, dotnet: bool = False) -> bytes:
    """A PE32 image: an .exe, or a DLL with `dll`; `dotnet` sets a (fake) CLR runtime header directory."""
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)

    characteristics = _IMAGE_FILE_EXECUTABLE_IMAGE | _IMAGE_FILE_32BIT_MACHINE
    if dll:
        characteristics |= _IMAGE_FILE_DLL
    optional_size = 96 + 16 * 8
    file_header = struct.pack("<HHIIIHH", 0x14C, 1, 0x5E000000, 0, 0, optional_size, characteristics)

    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
        0x10B,  # PE32
        14,
        0,  # linker version
        _FILE_ALIGNMENT,  # SizeOfCode
        0,
        0,  # initialised / uninitialised data
        0x1000,  # AddressOfEntryPoint: the RET
        0x1000,  # BaseOfCode
        0x2000,  # BaseOfData
        0x400000,  # ImageBase
        _SECTION_ALIGNMENT,
        _FILE_ALIGNMENT,
        6,
        0,
        0,
        0,
        6,
        0,  # OS, image, subsystem versions
        0,  # Win32VersionValue
        0x2000,  # SizeOfImage
        _FILE_ALIGNMENT,  # SizeOfHeaders
        0,  # CheckSum
        3,  # Subsystem: console
        0,  # DllCharacteristics
        0x100000,
        0x1000,
        0x100000,
        0x1000,  # stack and heap reserve / commit
        0,  # LoaderFlags
        16,  # NumberOfRvaAndSizes
    )
    directories = bytearray(16 * 8)
    if dotnet:
        struct.pack_into("<II", directories, _CLR_DIRECTORY * 8, 0x1000, 0x48)

    section = struct.pack(
        "<8sIIIIIIHHI",
        b".text",
        1,  # VirtualSize
        0x1000,  # VirtualAddress
        _FILE_ALIGNMENT,  # SizeOfRawData
        _FILE_ALIGNMENT,  # PointerToRawData
        0,
        0,
        0,
        0,
        0x60000020,  # code | execute | read
    )
    headers = bytes(dos) + b"PE\x00\x00" + file_header + optional + bytes(directories) + section
    headers += b"\x00" * (_FILE_ALIGNMENT - len(headers))
    text = b"\xc3" + b"\x00" * (_FILE_ALIGNMENT - 1)
    return headers + text

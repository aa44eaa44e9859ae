"""Harmless archives in the formats malspam uses besides zip: a password 7z, an LZH, an ISO .img, a tar.xz.

Every payload is inert: the executable is tests/_pe.py's minimal PE (one RET, never run); the shortcut comes
from samplekit.carriers and points at a DLL that does nothing. Built in memory; nothing is written to disk.
Deterministic (fixed times) except the 7z: py7zr stamps the current time and draws a random AES salt and IV.
"""

from __future__ import annotations

import importlib.util
import io
import lzma
import struct
import tarfile
from pathlib import Path

__all__ = ["harmless_exe", "iso_img", "lzh_stored", "sevenzip", "tar_xz"]

_FIXED_TIME = 1_795_000_000  # 2026-11-18, so archives are byte-for-byte reproducible
_TESTS = Path(__file__).resolve().parents[2] / "tests"


def harmless_exe() -> bytes:
    """tests/_pe.py's minimal PE32 image (one RET instruction): parses as an .exe, does nothing."""
    spec = importlib.util.spec_from_file_location("_triage_test_pe", _TESTS / "_pe.py")
    if spec is None or spec.loader is None:
        raise ImportError("tests/_pe.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data: bytes = module.minimal_pe()
    return data


def sevenzip(
    members: list[tuple[str, bytes]] | None = None, *, password: str | None = None, encrypt_names: bool = False
) -> bytes:
    """A 7z archive (LZMA2; AES-256 when `password` is given; header encryption hides names too)."""
    import py7zr

    members = members if members is not None else [("請求書.exe", harmless_exe())]
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password=password, header_encryption=encrypt_names) as archive:
        for name, data in members:
            archive.writestr(data, name)
    return buffer.getvalue()


def _crc16(data: bytes) -> int:
    """LHA's CRC-16 (reflected 0x8005, initial 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def lzh_stored(members: list[tuple[str, bytes]] | None = None) -> bytes:
    """An LZH archive of level-0 headers and -lh0- (stored) members; names in CP932 as Japanese LHA writes."""
    members = members if members is not None else [("見積書.exe", harmless_exe())]
    out = bytearray()
    for name, data in members:
        raw_name = name.encode("cp932")
        body = (
            b"-lh0-"
            + struct.pack("<II", len(data), len(data))
            + struct.pack("<HH", 0x6000, 0x5D72)  # DOS time/date: 2026-11-18 12:00
            + bytes((0x20, 0, len(raw_name)))
            + raw_name
            + struct.pack("<H", _crc16(data))
        )
        out += bytes((len(body), sum(body) & 0xFF)) + body + data
    out.append(0)
    return bytes(out)


def iso_img(*, hidden_dll: bool = True) -> bytes:
    """A UDF + Joliet image (what malspam names .img): a visible "請求書.lnk" shortcut that would run the
    hidden DLL beside it through rundll32, and a harmless exe. The DLL and exe are the minimal PE; the shortcut
    points at a file that does nothing."""
    import pycdlib

    from .carriers import build_lnk

    exe = harmless_exe()
    lnk = build_lnk(r"C:\Windows\System32\rundll32.exe", arguments="payload.dll,DllMain", working_dir=".")
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3, udf="2.60", vol_ident="INVOICE")
    files: list[tuple[str, str, bytes]] = [
        ("/INVOICE.LNK;1", "請求書.lnk", lnk),
        ("/INVOICE.EXE;1", "invoice.exe", exe),
    ]
    if hidden_dll:
        files.append(("/PAYLOAD.DLL;1", "payload.dll", exe))
    for iso_path, name, data in files:
        iso.add_fp(io.BytesIO(data), len(data), iso_path, joliet_path=f"/{name}", udf_path=f"/{name}")
    if hidden_dll:
        iso.set_hidden(iso_path="/PAYLOAD.DLL;1")
        iso.set_hidden(joliet_path="/payload.dll")
        assert iso.udf_root is not None
        for fid in iso.udf_root.fi_descs.values():  # pycdlib has no UDF hide call: set the FID bit
            if not fid.is_parent() and bytes(fid.fi) == b"payload.dll":
                fid.file_characteristics |= 0x01
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def tar_xz(members: list[tuple[str, bytes]] | None = None) -> bytes:
    """A .tar.xz (ustar, fixed times) holding the minimal PE by default."""
    members = members if members is not None else [("report/年次報告.exe", harmless_exe())]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = _FIXED_TIME
            archive.addfile(info, io.BytesIO(data))
    return lzma.compress(buffer.getvalue(), format=lzma.FORMAT_XZ)

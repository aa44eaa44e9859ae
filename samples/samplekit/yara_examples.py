"""Harmless inputs that each of our YARA rules (rules/yara) must fire on, and near misses it must not.

Nothing here runs: the "executables" are an MZ header and DOS stub with no code, the "shellcode" is a few
instruction idioms padded with zeros, and the JavaScript only calls `app.alert`. `rule_examples()` gives, for every
rule, positive and negative examples (tests/test_yara_rules.py checks both); the named builders make whole
documents for sample messages. Deterministic; nothing is written to disk.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

__all__ = [
    "Example",
    "RuleExamples",
    "beacon_blob",
    "dos_stub_pe",
    "jpeg_with_xor_exe",
    "pdf_heapspray",
    "pdf_with_hidden_exe",
    "pdf_with_javascript",
    "powershell_encoded",
    "powershell_stager",
    "rtf_obfuscated_object",
    "rtf_with_object",
    "rule_examples",
    "shellcode_blob",
]

DOS_STUB_TEXT = b"This program cannot be run in DOS mode.\r\r\n$"
BEACON_FORMAT = b"Name:%s IP:%s OS:%s"
BEACON_QUERY = "hostname=%s&ip=%s&os=%s"


@dataclass(frozen=True)
class Example:
    name: str
    data: bytes


@dataclass(frozen=True)
class RuleExamples:
    rule: str
    positives: tuple[Example, ...]
    negatives: tuple[Example, ...]


# -- building blocks -------------------------------------------------------------------------------------------
def dos_stub_pe(padding: int = 0x100) -> bytes:
    """The first bytes of a linker-made PE: MZ header, the DOS stub and its message, "PE\\0\\0". No code at all."""
    header = bytearray(0x40)
    header[0:2] = b"MZ"
    struct.pack_into("<H", header, 2, 0x90)
    struct.pack_into("<I", header, 0x3C, 0x80)
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21" + DOS_STUB_TEXT
    body = bytes(header) + stub
    body += b"\x00" * (0x80 - len(body))
    return body + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * padding


def _pdf(objects: list[bytes]) -> bytes:
    """A well-formed PDF (header, objects, xref table, trailer) from object bodies numbered 1..n."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _page_objects(text: bytes) -> list[bytes]:
    content = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    return [
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        _stream(b"", content),
    ]


def pdf_with_hidden_exe(exe: bool = True) -> bytes:
    """A one-page PDF with an uncompressed embedded file "readme.exe" holding `dos_stub_pe()` (or plain text)."""
    payload = dos_stub_pe() if exe else b"Meeting notes: nothing to see here.\n"
    name = b"readme.exe" if exe else b"notes.txt"
    catalog = b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(%s) 5 0 R] >> >> >>" % name
    filespec = b"<< /Type /Filespec /F (%s) /EF << /F 6 0 R >> >>" % name
    embedded = _stream(b"/Type /EmbeddedFile", payload)
    return _pdf([catalog, *_page_objects(b"Invoice"), filespec, embedded])


def pdf_with_javascript(js: str) -> bytes:
    """A one-page PDF whose /OpenAction runs `js`, stored uncompressed (as heap-spray PDFs often are)."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>"
    action = b"<< /Type /Action /S /JavaScript /JS 6 0 R >>"
    return _pdf([catalog, *_page_objects(b"Calendar 2012"), action, _stream(b"", js.encode("ascii"))])


def jpeg_with_xor_exe(key: int = 0x5A) -> bytes:
    """A JPEG-looking file with `dos_stub_pe()` XOR-encoded with one byte appended after its end marker."""
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) + b"\xff\xd9"
    if not key:
        return jpeg
    return jpeg + bytes(b ^ key for b in dos_stub_pe())


_OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 56

# Idioms only: each is a handful of bytes that would need the rest of a payload to do anything.
SHELLCODE_IDIOMS = {
    "call_pop": b"\xe8\x00\x00\x00\x00\x5d",  # call $+5 ; pop ebp
    "fnstenv": b"\xd9\xee\xd9\x74\x24\xf4\x5b",  # fldz ; fnstenv [esp-0Ch] ; pop ebx
    "peb_fs": b"\x31\xc9\x64\x8b\x41\x30",  # xor ecx,ecx ; mov eax, fs:[ecx+30h]
    "peb_fs_abs": b"\x64\xa1\x30\x00\x00\x00",  # mov eax, fs:[30h]
    "peb_gs": b"\x65\x48\x8b\x04\x25\x60\x00\x00\x00",  # mov rax, gs:[60h]
    "api_hashes": b"\x68\x4c\x77\x26\x07\x68\x49\xf7\x02\x78",  # push LoadLibraryA hash ; push GetProcAddress hash
    "one_hash": b"\x68\x4c\x77\x26\x07",  # one constant alone is not enough
    "ror13_loop": b"\xc1\xcf\x0d\x01\xc7\x68\x58\xa4\x53\xe5",  # ror edi,13 ; add edi,eax ; push VirtualAlloc hash
}


STAGER_PROLOGUE = b"\xfc\xe8\x82\x00\x00\x00\x60\x89\xe5"  # cld ; call +82h ; pushad ; mov ebp,esp (9 bytes)
STAGER_ARRAY = "[Byte[]] $buf = " + ",".join(f"0x{b:02x}" for b in STAGER_PROLOGUE)


def powershell_encoded(command: str) -> bytes:
    """A batch line running `command` the way droppers do: UTF-16LE, base64, `powershell -EncodedCommand`."""
    return b"powershell -nop -w hidden -EncodedCommand " + base64.b64encode(command.encode("utf-16-le")) + b"\r\n"


def shellcode_blob(*idioms: str, pe: bool = False) -> bytes:
    """An OLE-looking blob (or, with `pe`, a DOS-stub PE) with the named idioms of SHELLCODE_IDIOMS inside."""
    head = dos_stub_pe() if pe else _OLE_HEADER
    return head + b"\x00" * 64 + b"\x90\x90".join(SHELLCODE_IDIOMS[name] for name in idioms) + b"\x00" * 64


def rtf_with_object(objdata: str, *, header: str = "{\\rtf1", control: str = "\\objemb") -> bytes:
    """An RTF document with one embedded object whose \\objdata is `objdata` as written."""
    return (
        header + "\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\n"
        "{\\pard Please see the attached form.\\par}\n"
        "{\\object" + control + "\\objw2000\\objh1000{\\*\\objclass Package}{\\*\\objdata " + objdata + "}}\n}\n"
    ).encode("ascii")


# An OLE1 header (version 0x0501, format 2, class name "Package") and a few data bytes: what writers emit.
_OBJ_HEX = "010500000200000008000000" + b"Package\x00".hex() + "00000000000000000400000041424344"
_OBJ_HEX_CLEAN = _OBJ_HEX[:32] + "\r\n" + _OBJ_HEX[32:]


def beacon_blob(fmt: bytes = BEACON_FORMAT, *, wide: bool = False) -> bytes:
    """Bytes like a PE's data section holding a C2 check-in format string (UTF-16 with `wide`)."""
    text = fmt.decode("ascii")
    encoded = text.encode("utf-16-le") if wide else text.encode("ascii")
    return b"\x00" * 32 + b"GET /index.php?id=%d\x00\x00" + encoded + b"\x00\x00" + b"Mozilla/4.0\x00" + b"\x00" * 32


def _js_codes(text: str) -> str:
    return ",".join(str(ord(c)) for c in text)


_ALERT = "app.alert('This harmless document only shows this message when opened.');"


# -- whole documents for sample messages ------------------------------------------------------------------------
def pdf_heapspray() -> bytes:
    """A PDF whose /OpenAction JavaScript builds a %u0c0c sled in a doubling loop (then only shows an alert)."""
    return pdf_with_javascript('var s = unescape("%u0c0c%u0c0c"); while (s.length < 0x40000) s += s; ' + _ALERT)


def rtf_obfuscated_object() -> bytes:
    """An RTF whose object is auto-updated (\\objautlink\\objupdate) and whose \\objdata hex hides a {\\*} group."""
    return rtf_with_object(_OBJ_HEX[:12] + "{\\*\\zz}" + _OBJ_HEX[12:], control="\\objautlink\\objupdate")


def powershell_stager() -> bytes:
    """A batch line running PowerShell -EncodedCommand whose script holds a stager's first 9 bytes as an array."""
    return powershell_encoded(STAGER_ARRAY + "; $x = 1")


# -- examples per rule -----------------------------------------------------------------------------------------
def rule_examples() -> tuple[RuleExamples, ...]:
    """Every rule in rules/yara with inputs it must fire on and near misses it must not."""
    pe = dos_stub_pe()
    return (
        RuleExamples(
            "TRIAGE_PE_Stub_In_NonPE",
            positives=(
                Example("pdf with embedded exe", pdf_with_hidden_exe()),
                Example("ole blob with a PE inside", _OLE_HEADER + b"\x00" * 200 + pe),
            ),
            negatives=(
                Example("the PE itself", pe),
                Example("plain pdf", pdf_with_hidden_exe(exe=False)),
                Example("zip storing an exe (its member is scanned alone)", b"PK\x03\x04" + b"\x00" * 26 + pe),
            ),
        ),
        RuleExamples(
            "TRIAGE_PE_Inside_PE",
            positives=(Example("dropper: a PE carrying a PE", pe + b"\x00" * 0x200 + pe),),
            negatives=(Example("one PE", pe), Example("PE in a document", _OLE_HEADER + pe)),
        ),
        RuleExamples(
            "TRIAGE_PE_Stub_XOR",
            positives=(
                Example("jpeg with xor 0x5a exe", jpeg_with_xor_exe(0x5A)),
                Example("jpeg with xor 0xff exe", jpeg_with_xor_exe(0xFF)),
            ),
            negatives=(Example("plain jpeg", jpeg_with_xor_exe(0)), Example("unencoded PE", pe)),
        ),
        RuleExamples(
            "TRIAGE_Shellcode_GetPC",
            positives=(
                Example("call/pop", shellcode_blob("call_pop")),
                Example("fnstenv", shellcode_blob("fnstenv")),
            ),
            negatives=(
                Example("call/pop inside a PE", shellcode_blob("call_pop", pe=True)),
                Example("call to elsewhere", _OLE_HEADER + b"\xe8\x10\x00\x00\x00\x5d"),
            ),
        ),
        RuleExamples(
            "TRIAGE_Shellcode_PEB_Access",
            positives=(
                Example("xor ecx / fs:[ecx+30h]", shellcode_blob("peb_fs")),
                Example("fs:[30h]", shellcode_blob("peb_fs_abs")),
                Example("gs:[60h]", shellcode_blob("peb_gs")),
            ),
            negatives=(
                Example("PEB access inside a PE", shellcode_blob("peb_fs_abs", pe=True)),
                Example("fs:[18h] (TEB self)", _OLE_HEADER + b"\x64\xa1\x18\x00\x00\x00"),
            ),
        ),
        RuleExamples(
            "TRIAGE_Shellcode_API_Hashing",
            positives=(
                Example("two API hashes", shellcode_blob("api_hashes")),
                Example("ror13 loop and a hash", shellcode_blob("ror13_loop")),
                Example("API hashes in a PE stager", shellcode_blob("api_hashes", pe=True)),
            ),
            negatives=(Example("one hash constant", shellcode_blob("one_hash")),),
        ),
        RuleExamples(
            "TRIAGE_Shellcode_Stager_Prologue",
            positives=(
                Example("raw prologue", _OLE_HEADER + STAGER_PROLOGUE),
                Example("PowerShell byte array", STAGER_ARRAY.encode("ascii")),
                Example("PowerShell byte array, UTF-16", STAGER_ARRAY.encode("utf-16-le")),
                Example("PowerShell -EncodedCommand", powershell_encoded(STAGER_ARRAY + "; $x = 1")),
                Example(
                    "Python/C escapes", b'buf = b"' + "".join(f"\\x{b:02x}" for b in STAGER_PROLOGUE).encode() + b'"'
                ),
            ),
            negatives=(
                Example("other byte array", b"[Byte[]] $buf = 0xfc,0x00,0x12,0x34,0x00,0x00"),
                Example("cld; call elsewhere", _OLE_HEADER + b"\xfc\xe8\x10\x00\x00\x00\x90\x90"),
                Example("PowerShell -EncodedCommand, harmless", powershell_encoded("Get-Date")),
            ),
        ),
        RuleExamples(
            "TRIAGE_RTF_Objdata_Junk",
            positives=(
                Example("ignorable group in hex", rtf_with_object(_OBJ_HEX[:12] + "{\\*\\zz}" + _OBJ_HEX[12:])),
                Example("control word in hex", rtf_with_object(_OBJ_HEX[:20] + "\\par1 " + _OBJ_HEX[20:])),
                Example("blanks in hex", rtf_with_object(" \t".join(_OBJ_HEX[i : i + 8] for i in range(0, 72, 8)))),
            ),
            negatives=(Example("clean object", rtf_with_object(_OBJ_HEX_CLEAN)),),
        ),
        RuleExamples(
            "TRIAGE_RTF_Bin_Trick",
            positives=(
                Example("\\bin in objdata", rtf_with_object(_OBJ_HEX[:16] + "\\bin4 ABCD" + _OBJ_HEX[16:])),
                Example("padded \\bin length", b"{\\rtf1{\\pict\\bin00000004 ABCD}}"),
            ),
            negatives=(
                Example("clean object", rtf_with_object(_OBJ_HEX_CLEAN)),
                Example("\\binary word in text", b"{\\rtf1 see \\binfsxn1 the form}"),
            ),
        ),
        RuleExamples(
            "TRIAGE_RTF_Objupdate",
            positives=(
                Example("objautlink objupdate", rtf_with_object(_OBJ_HEX_CLEAN, control="\\objautlink\\objupdate")),
            ),
            negatives=(
                Example("embedded object", rtf_with_object(_OBJ_HEX_CLEAN)),
                Example("objupdate in a plain text file", b"The \\objupdate keyword \\object"),
            ),
        ),
        RuleExamples(
            "TRIAGE_RTF_Malformed_Header",
            positives=(Example("{\\rtx header", rtf_with_object(_OBJ_HEX_CLEAN, header="{\\rtx")),),
            negatives=(
                Example("{\\rtf1 header", rtf_with_object(_OBJ_HEX_CLEAN)),
                Example("{\\rt1 without object", b"{\\rt1 {\\pard hello\\par}}"),
            ),
        ),
        RuleExamples(
            "TRIAGE_JS_HeapSpray_NopSled",
            positives=(
                Example("pdf with %u0c0c sled", pdf_with_javascript('var s = unescape("%u0c0c%u0c0c"); ' + _ALERT)),
                Example("\\x0c string", b'var s = "\\x0c\\x0c\\x0c\\x0c";'),
            ),
            negatives=(
                Example("unescape of Japanese", b'var t = unescape("%u3053%u3093%u306B%u3061%u306F");'),
                Example("plain pdf js", pdf_with_javascript(_ALERT)),
            ),
        ),
        RuleExamples(
            "TRIAGE_JS_HeapSpray_Loop",
            positives=(
                Example(
                    "doubling loop",
                    pdf_with_javascript(
                        'var b = unescape("%u9191%u9191"); while (b.length < 0x40000) b += b; ' + _ALERT
                    ),
                ),
                Example(
                    "fill loop",
                    b'var sc = unescape("%u4141%u4242"); var m = [];\n'
                    b"for (var i = 0; i < 0x200; i++) { m[i] = block + sc; }",
                ),
            ),
            negatives=(
                Example("short padding loop", b'var s = ""; while (s.length < 10) s += "0";'),
                Example("big loop without code strings", b"while (buf.length < 1000000) buf += chunk;"),
            ),
        ),
        RuleExamples(
            "TRIAGE_JS_FromCharCode_Blob",
            positives=(
                Example(
                    "pdf with eval(fromCharCode)",
                    pdf_with_javascript(f"eval(String.fromCharCode({_js_codes(_ALERT)}));"),
                ),
            ),
            negatives=(Example("short fromCharCode", b"var nl = String.fromCharCode(13, 10);"),),
        ),
        RuleExamples(
            "TRIAGE_Beacon_Host_IP_OS",
            positives=(
                Example("NPA-style format", beacon_blob()),
                Example("query beacon, UTF-16", beacon_blob(BEACON_QUERY.encode("ascii"), wide=True)),
                Example("other order", beacon_blob(b"os=%s&ip=%s&computername=%s")),
            ),
            negatives=(
                Example("host name only", beacon_blob(b"Name: %s")),
                Example("far apart", b"name=%s" + b"\x00" * 400 + b"ip=%s" + b"\x00" * 400 + b"os=%s"),
                Example("prose", b"Please send the host name, IP and OS version of the PC to the helpdesk."),
            ),
        ),
    )

"""Deterministic builders of harmless Office documents that show each Office trick to the analyzers.

Nothing here does harm if opened: macros call a `Shell`/`CreateObject` that is never reached in a useful way
(they only reference `calc.exe` or `example.invalid`), the OLE Package carries a PE that is a single `ret`, the
remote template and DDE point at `example.invalid`.

- `macro_doc()` / `macro_xls()`: Word/Excel 97 binary files with a VBA project (written with samplekit.cfb; the
  module source is stored MS-OVBA-"compressed" with literal tokens only, and 4096-byte chunks stored
  uncompressed — both valid, and olevba decodes them). Optional Chinese code page in the summary information.
- `macro_docm()`: an OOXML .docm carrying ``word/vbaProject.bin``.
- `remote_template_docx()`: settings.xml.rels with an external attachedTemplate (template injection).
- `dde_docx()`: a DDEAUTO field in document.xml.
- `package_docx()`: word/embeddings/oleObject1.bin, an OLE Package (``\\x01Ole10Native``) carrying a harmless
  executable (`tests/_pe.py`'s single-`ret` PE, or any bytes given).
- `encrypted_docx()`: any of the above encrypted with a password by msoffcrypto-tool (ECMA-376 agile). Its salts
  come from the OS random source, so this one builder is NOT byte-for-byte deterministic; the decrypted content is.

Every zip member has a fixed timestamp, so builders other than `encrypted_docx` return identical bytes each run.
"""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
from collections.abc import Mapping, Sequence

from samplekit.cfb import Tree, build_cfb

__all__ = [
    "DEFAULT_MACRO",
    "dde_docx",
    "docx",
    "encrypted_docx",
    "macro_doc",
    "macro_docm",
    "macro_xls",
    "ole_package",
    "ovba_compress",
    "package_docx",
    "remote_template_docx",
    "summary_information",
    "vba_project",
]

# A macro that would run on opening and names what droppers use; it only shows a message box in practice:
# the Shell line is behind a condition that is never true.
DEFAULT_MACRO = (
    "Sub AutoOpen()\r\n"
    '    MsgBox "harmless sample for triage tests"\r\n'
    '    If Len(Environ("TRIAGE_NEVER_SET_" & Chr(65))) > 1000 Then\r\n'
    '        Set sh = CreateObject("WScript.Shell")\r\n'
    '        Shell "calc.exe", vbHide\r\n'
    "    End If\r\n"
    "End Sub\r\n"
)

_DATE = (2026, 11, 16, 10, 0, 0)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_R = "http://schemas.openxmlformats.org/package/2006/relationships"
_SUMMARY_FMTID = uuid.UUID("F29F85E0-4FF9-1068-AB91-08002B27B3D9").bytes_le


# -- MS-OVBA ---------------------------------------------------------------------------------------------------
def ovba_compress(data: bytes) -> bytes:
    """An MS-OVBA CompressedContainer for `data`: full 4096-byte chunks stored raw, the rest as literal tokens."""
    out = bytearray(b"\x01")
    pos = 0
    while pos < len(data):
        piece = data[pos : pos + 4096]
        pos += len(piece)
        if len(piece) == 4096:
            out += struct.pack("<H", 0x3000 | 0x0FFF) + piece  # uncompressed chunk: always 4096 bytes
            continue
        if len(piece) > 3640:
            # literal tokens take 9 bytes per 8: a partial chunk this long would not fit; pad it to a raw one
            piece = piece + b" " * (4096 - len(piece))
            out += struct.pack("<H", 0x3000 | 0x0FFF) + piece
            continue
        body = bytearray()
        for i in range(0, len(piece), 8):
            body += b"\x00" + piece[i : i + 8]  # flag byte 0: eight literal tokens
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _rec(rec_id: int, data: bytes) -> bytes:
    return struct.pack("<HI", rec_id, len(data)) + data


def _dir_stream(modules: Sequence[tuple[str, bool]], codepage: int) -> bytes:
    """The VBA `dir` stream (MS-OVBA 2.3.4.2), uncompressed: project information, no references, modules."""
    name = b"VBAProject"
    out = bytearray()
    out += _rec(0x0001, struct.pack("<I", 1))  # PROJECTSYSKIND: Win32
    out += _rec(0x0002, struct.pack("<I", 0x409))  # PROJECTLCID
    out += _rec(0x0014, struct.pack("<I", 0x409))  # PROJECTLCIDINVOKE
    out += _rec(0x0003, struct.pack("<H", codepage))  # PROJECTCODEPAGE
    out += _rec(0x0004, name)  # PROJECTNAME
    out += _rec(0x0005, b"") + _rec(0x0040, b"")  # PROJECTDOCSTRING (+ unicode)
    out += _rec(0x0006, b"") + _rec(0x003D, b"")  # PROJECTHELPFILEPATH (+ second path)
    out += _rec(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _rec(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    out += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # PROJECTVERSION: Reserved=4, then major u32, minor u16
    out += _rec(0x000C, b"") + _rec(0x003C, b"")  # PROJECTCONSTANTS (+ unicode)
    out += _rec(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    out += _rec(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for module, document in modules:
        raw = module.encode("ascii")
        wide = module.encode("utf-16-le")
        out += _rec(0x0019, raw) + _rec(0x0047, wide)  # MODULENAME, MODULENAMEUNICODE
        out += _rec(0x001A, raw) + _rec(0x0032, wide)  # MODULESTREAMNAME (+ unicode)
        out += _rec(0x001C, b"") + _rec(0x0048, b"")  # MODULEDOCSTRING (+ unicode)
        out += _rec(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: the source starts the stream
        out += _rec(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _rec(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += _rec(0x0022 if document else 0x0021, b"")  # MODULETYPE: document/class or procedural
        out += _rec(0x002B, b"")  # module terminator
    out += _rec(0x0010, b"")  # dir terminator
    return bytes(out)


def vba_project(modules: Mapping[str, str], *, document_module: str = "ThisDocument", codepage: int = 1252) -> Tree:
    """The storages of a VBA project: {"VBA": {...}, "PROJECT": ..., "PROJECTwm": ...}.

    `modules` maps a module name to its source; the module named `document_module` (if any) is a document module
    (its `Attribute VB_Name` header is added), the others procedural modules.
    """
    listed = [(name, name == document_module) for name in modules]
    vba: dict[str, bytes | Tree] = {
        "_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",  # Version 0xFFFF: no p-code, read the source
        "dir": ovba_compress(_dir_stream(listed, codepage)),
    }
    project = ['ID="{00000000-0000-0000-0000-000000000000}"']
    for name, code in modules.items():
        source = f'Attribute VB_Name = "{name}"\r\n' + code
        vba[name] = ovba_compress(source.encode("cp1252"))
        project.append(f"Document={name}/&H00000000" if name == document_module else f"Module={name}")
    project += ['Name="VBAProject"', 'HelpContextID="0"', 'VersionCompatible32="393222000"', "", "[Workspace]"]
    project += [f"{name}=0, 0, 0, 0, C" for name in modules]
    wm = b"".join(n.encode("ascii") + b"\x00" + n.encode("utf-16-le") + b"\x00\x00" for n in modules) + b"\x00\x00"
    return {"VBA": vba, "PROJECT": ("\r\n".join(project) + "\r\n").encode("ascii"), "PROJECTwm": wm}


def summary_information(*, codepage: int = 1252, author: str = "Taro Yamada") -> bytes:
    """A \\x05SummaryInformation property set with a code page (PID 1) and an author (PID 4)."""
    author_raw = author.encode(f"cp{codepage}", "replace") + b"\x00"
    author_raw += b"\x00" * (-len(author_raw) % 4)
    props = [
        (1, struct.pack("<HHhH", 0x0002, 0, codepage if codepage < 0x8000 else codepage - 0x10000, 0)),
        (4, struct.pack("<HHI", 0x001E, 0, len(author_raw)) + author_raw),
    ]
    header_len = 8 + 8 * len(props)
    offsets, body, at = [], b"", header_len
    for pid, value in props:
        offsets.append(struct.pack("<II", pid, at))
        body += value
        at += len(value)
    section = struct.pack("<II", header_len + len(body), len(props)) + b"".join(offsets) + body
    stream = struct.pack("<HHI16sI", 0xFFFE, 0, 0x00020006, b"\x00" * 16, 1) + _SUMMARY_FMTID + struct.pack("<I", 48)
    return stream + section


def _word_fib() -> bytes:
    fib = bytearray(1536)
    struct.pack_into("<HH", fib, 0, 0xA5EC, 0x00C1)  # wIdent, nFib (Word 97)
    struct.pack_into("<H", fib, 0x0A, 0x0200)  # fWhichTblStm: 1Table; not encrypted
    return bytes(fib)


def macro_doc(macro: str = DEFAULT_MACRO, *, codepage: int = 1252, text: str = "") -> bytes:
    """A Word 97 .doc with a VBA project (module ThisDocument holding `macro`); `text` is put in the body stream."""
    body = _word_fib() + text.encode("cp1252", "replace")
    tree: dict[str, bytes | Tree] = {
        "WordDocument": body,
        "1Table": b"\x00" * 512,
        "\x05SummaryInformation": summary_information(codepage=codepage),
        "Macros": vba_project({"ThisDocument": macro}),
    }
    return build_cfb(tree)


def macro_xls(macro: str = DEFAULT_MACRO.replace("AutoOpen", "Workbook_Open"), *, codepage: int = 1252) -> bytes:
    """An Excel 97 .xls with a VBA project (module ThisWorkbook) in _VBA_PROJECT_CUR; a minimal BIFF8 stream."""
    bof = struct.pack("<HH", 0x0809, 16) + struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0)
    eof = struct.pack("<HH", 0x000A, 0)
    tree: dict[str, bytes | Tree] = {
        "Workbook": bof + eof + b"\x00" * (4096 - len(bof) - len(eof)),
        "\x05SummaryInformation": summary_information(codepage=codepage),
        "_VBA_PROJECT_CUR": vba_project({"ThisWorkbook": macro}, document_module="ThisWorkbook"),
    }
    return build_cfb(tree)


# -- OOXML -----------------------------------------------------------------------------------------------------
def _zip(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buffer.getvalue()


def _paragraphs(xml_runs: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{_W}" xmlns:r="{_R}"><w:body>{xml_runs}</w:body></w:document>'
    ).encode()


def _rels(rels: Sequence[tuple[str, str, str, bool]]) -> bytes:
    mode = ' TargetMode="External"'
    items = "".join(
        f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"{mode if external else ""}/>'
        for rid, kind, target, external in rels
    )
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return f'{head}<Relationships xmlns="{_PKG_R}">{items}</Relationships>'.encode()


def docx(
    text: str = "会議資料を添付いたします。",
    *,
    body_xml: str | None = None,
    extra: Mapping[str, bytes] | None = None,
    document_rels: Sequence[tuple[str, str, str, bool]] = (),
    overrides: Sequence[tuple[str, str]] = (),
    defaults: Sequence[tuple[str, str]] = (),
    macro_enabled: bool = False,
) -> bytes:
    """A small valid .docx (or .docm with `macro_enabled`): one paragraph of `text`, plus given parts."""
    main = (
        "application/vnd.ms-word.document.macroEnabled.main+xml"
        if macro_enabled
        else "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    )
    default_xml = "".join(f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in defaults)
    override_xml = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'{default_xml}<Override PartName="/word/document.xml" ContentType="{main}"/>{override_xml}</Types>'
    ).encode()
    members: dict[str, bytes] = {
        "[Content_Types].xml": content_types,
        "_rels/.rels": _rels(
            [("rId1", f"{_R}/officeDocument", "word/document.xml", False)],
        ),
        "word/document.xml": _paragraphs(body_xml or f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"),
    }
    if document_rels:
        members["word/_rels/document.xml.rels"] = _rels(document_rels)
    members.update(extra or {})
    return _zip(members)


def macro_docm(macro: str = DEFAULT_MACRO) -> bytes:
    """A .docm whose word/vbaProject.bin holds `macro` in ThisDocument."""
    project = build_cfb(vba_project({"ThisDocument": macro}))
    return docx(
        "マクロを有効にしてください。",
        extra={"word/vbaProject.bin": project},
        document_rels=[
            ("rId9", "http://schemas.microsoft.com/office/2006/relationships/vbaProject", "vbaProject.bin", False)
        ],
        overrides=[("/word/vbaProject.bin", "application/vnd.ms-office.vbaProject")],
        macro_enabled=True,
    )


def remote_template_docx(url: str = "http://templates.example.invalid/report.dotm") -> bytes:
    """A .docx whose settings part attaches a remote template (fetched by Word on opening)."""
    settings = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:settings xmlns:w="{_W}" xmlns:r="{_R}"><w:attachedTemplate r:id="rId1"/></w:settings>'
    )
    return docx(
        extra={
            "word/settings.xml": settings.encode(),
            "word/_rels/settings.xml.rels": _rels([("rId1", f"{_R}/attachedTemplate", url, True)]),
        },
        document_rels=[("rId3", f"{_R}/settings", "settings.xml", False)],
        overrides=[
            ("/word/settings.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml")
        ],
    )


def dde_docx(command: str = 'DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k echo harmless.example.invalid"') -> bytes:
    """A .docx with a DDEAUTO field (fldChar begin / instrText / end), the way DDE attacks wrote it."""
    runs = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> {command} </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>更新してください</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    return docx(body_xml=runs)


def ole_package(filename: str, payload: bytes, *, src_path: str | None = None, encoding: str = "cp932") -> bytes:
    """An OLE Package object (CFB with a \\x01Ole10Native stream) carrying `payload` as `filename`.

    Package strings are in the sender's ANSI code page: CP932 on Japanese Windows.
    """
    src = (src_path or f"C:\\Users\\user\\Desktop\\{filename}").encode(encoding) + b"\x00"
    temp = f"C:\\Users\\user\\AppData\\Local\\Temp\\{filename}".encode(encoding) + b"\x00"
    body = struct.pack("<H", 2) + filename.encode(encoding) + b"\x00" + src
    body += struct.pack("<II", 0x00030000, len(temp)) + temp + struct.pack("<I", len(payload)) + payload
    native = struct.pack("<I", len(body)) + body
    compobj = b"\x01\x00\xfe\xff\x03\x0a\x00\x00\xff\xff\xff\xff" + uuid.UUID(int=0).bytes_le
    return build_cfb({"\x01Ole10Native": native, "\x01CompObj": compobj})


def package_docx(payload: bytes, filename: str = "invoice.exe") -> bytes:
    """A .docx embedding an OLE Package that carries `payload` named `filename` (pass a harmless PE)."""
    run = (
        '<w:p><w:r><w:object><o:OLEObject xmlns:o="urn:schemas-microsoft-com:office:office" Type="Embed"'
        ' ProgID="Package" r:id="rId5"/></w:object></w:r></w:p>'
    )
    return docx(
        body_xml=run,
        extra={"word/embeddings/oleObject1.bin": ole_package(filename, payload)},
        document_rels=[("rId5", f"{_R}/oleObject", "embeddings/oleObject1.bin", False)],
        defaults=[("bin", "application/vnd.openxmlformats-officedocument.oleObject")],
    )


def encrypted_docx(password: str, document: bytes | None = None) -> bytes:
    """`document` (default: a plain docx) encrypted with `password` (ECMA-376 agile). Random salts: see above."""
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = document if document is not None else docx()
    if len(plain) < _MIN_ENCRYPTED_PLAIN:
        plain = _pad_zip(plain, _MIN_ENCRYPTED_PLAIN)
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt(password, out)
    return out.getvalue()


# msoffcrypto-tool 6.1.0 writes an EncryptedPackage under 4096 bytes into the compound file's mini stream wrongly
# (its own decrypt then reads EncryptionInfo bytes as the package): keep the plain package above the cutoff.
_MIN_ENCRYPTED_PLAIN = 4608


def _pad_zip(data: bytes, size: int) -> bytes:
    """`data` (a zip) with a zip comment that brings it to `size` bytes; Office ignores zip comments."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as zf:
        zf.comment = b"triage sample padding " * ((size - len(data)) // 22 + 1)
    return buffer.getvalue()

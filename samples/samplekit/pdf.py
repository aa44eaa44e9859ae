"""Harmless PDFs showing each trick the PDF analyzer looks for, written object by object (deterministic bytes).

The only script in any of them is ``app.alert("sample");``; the only Launch target is ``cmd.exe /c echo sample``;
links point to reserved names (``.example``, ``.invalid``) and documentation addresses (198.51.100.0/24).
`encrypted_pdf` is written by pikepdf (imported when called) with RC4, whose output is deterministic.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

__all__ = [
    "SCRIPT",
    "broken_xref_pdf",
    "build_pdf",
    "embedded_file_pdf",
    "encrypted_pdf",
    "file_attachment_pdf",
    "fragment_pdf",
    "javascript_pdf",
    "launch_pdf",
    "obfuscated_names_pdf",
    "objstm_javascript_pdf",
    "remote_action_pdf",
    "text_pdf",
    "truncated_pdf",
    "uri_pdf",
]

SCRIPT = 'app.alert("sample");'
_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def _literal(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def stream(entries: str, data: bytes) -> bytes:
    """An object body for a stream: the dictionary ``entries`` plus /Length, then the data."""
    return f"<< {entries} /Length {len(data)} >>\nstream\n".encode("ascii") + data + b"\nendstream"


def build_pdf(objects: Sequence[bytes], *, header: bytes = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """Objects numbered 1..n (object 1 is the catalog) with a correct xref table and trailer."""
    out = bytearray(header)
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)


def _page(lines: Sequence[str], first: int, annots: str = "") -> list[bytes]:
    """Page (object `first`), content stream and font for one page of Helvetica text."""
    ops = ["BT", "/F1 20 Tf", "72 770 Td", "24 TL", *(f"{_literal(line)} Tj T*" for line in lines), "ET"]
    page = (
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {first + 1} 0 R "
        f"/Resources << /Font << /F1 {first + 2} 0 R >> >> {annots}>>"
    ).encode("ascii")
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    return [page, stream("", "\n".join(ops).encode("ascii")), font]


def text_pdf(lines: Sequence[str] = ("Sample document",)) -> bytes:
    """A benign one-page PDF."""
    return build_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", _PAGES, *_page(lines, 3)])


def javascript_pdf(script: str = SCRIPT, *, as_stream: bool = False) -> bytes:
    """/OpenAction runs a JavaScript action; the script is a literal string, or a Flate stream with `as_stream`."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    if as_stream:
        action = b"<< /Type /Action /S /JavaScript /JS 7 0 R >>"
        code = stream("/Filter /FlateDecode", zlib.compress(script.encode("utf-8"), 9))
        return build_pdf([catalog, _PAGES, *_page(["Merry Christmas"], 3), action, code])
    action = f"<< /Type /Action /S /JavaScript /JS {_literal(script)} >>".encode()
    return build_pdf([catalog, _PAGES, *_page(["Merry Christmas"], 3), action])


def embedded_file_pdf(name: str, data: bytes, mime: str = "application/octet-stream") -> bytes:
    """`data` in the catalog's /EmbeddedFiles name tree (what "attach a file" in Acrobat writes)."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 6 0 R >> >>"
    tree = f"<< /Names [{_literal(name)} 7 0 R] >>".encode()
    filespec = f"<< /Type /Filespec /F {_literal(name)} /UF {_literal(name)} /EF << /F 8 0 R >> >>".encode()
    subtype = mime.replace("/", "#2F")
    embedded = stream(
        f"/Type /EmbeddedFile /Subtype /{subtype} /Filter /FlateDecode /Params << /Size {len(data)} >>",
        zlib.compress(data, 9),
    )
    return build_pdf([catalog, _PAGES, *_page(["Calendar"], 3), tree, filespec, embedded])


def obfuscated_names_pdf() -> bytes:
    """/O#70enAction runs a /S /J#61vaScript action whose /J#53 is the sample script: names hex-escaped letter by
    letter, as droppers write them to slip past scanners that grep for /JavaScript."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /O#70enAction 6 0 R >>"
    action = f"<< /Type /Action /S /J#61vaScript /J#53 {_literal(SCRIPT)} >>".encode("ascii")
    return build_pdf([catalog, _PAGES, *_page(["Invoice"], 3), action])


def launch_pdf(target: str = "cmd.exe", parameters: str = "/c echo sample") -> bytes:
    """/OpenAction launches `target` with `parameters` (Windows /Win dictionary), the 2010 /Launch trick."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    action = f"<< /Type /Action /S /Launch /Win << /F {_literal(target)} /P {_literal(parameters)} >> >>"
    return build_pdf([catalog, _PAGES, *_page(["Please click Open"], 3), action.encode("ascii")])


def uri_pdf(url: str = "https://login.example.invalid/verify", text: str = "View document") -> bytes:
    """A phishing-style page: one big link annotation with a /URI action."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    link = f"<< /Type /Annot /Subtype /Link /Rect [50 600 550 800] /A << /S /URI /URI {_literal(url)} >> >>"
    return build_pdf([catalog, _PAGES, *_page([text], 3, annots="/Annots [6 0 R] "), link.encode("ascii")])


def remote_action_pdf(target: str = "\\\\198.51.100.7\\share\\doc.pdf") -> bytes:
    """/OpenAction opens a remote document (/GoToR) on a UNC path: Windows sends the user's NTLM hash there."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    action = f"<< /Type /Action /S /GoToR /F {_literal(target)} /D [0 /Fit] >>".encode("ascii")
    return build_pdf([catalog, _PAGES, *_page(["Loading"], 3), action])


def file_attachment_pdf(name: str, data: bytes, mime: str = "application/octet-stream") -> bytes:
    """`data` attached through a FileAttachment annotation (not the /EmbeddedFiles tree)."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    annot = (
        f"<< /Type /Annot /Subtype /FileAttachment /Rect [72 700 92 720] /Name /PushPin /FS 7 0 R "
        f"/Contents {_literal(name)} >>"
    ).encode("ascii")
    filespec = f"<< /Type /Filespec /F {_literal(name)} /UF {_literal(name)} /EF << /F 8 0 R >> >>".encode("ascii")
    subtype = mime.replace("/", "#2F")
    embedded = stream(
        f"/Type /EmbeddedFile /Subtype /{subtype} /Filter /FlateDecode /Params << /Size {len(data)} >>",
        zlib.compress(data, 9),
    )
    return build_pdf(
        [catalog, _PAGES, *_page(["See attachment"], 3, annots="/Annots [6 0 R] "), annot, filespec, embedded]
    )


def objstm_javascript_pdf() -> bytes:
    """Document-level JavaScript (/Names /JavaScript) whose catalog and action sit in a compressed object stream:
    no /JS, /JavaScript or /Names appears in the file's bytes, only inside the Flate data. Needs PDF 1.5 (a
    cross-reference stream)."""
    # objects 1 (catalog), 6 (name tree) and 7 (action) live in object stream 8
    inside = [
        (1, b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript 6 0 R >> >>"),
        (6, b"<< /Names [(init) 7 0 R] >>"),
        (7, f"<< /S /JavaScript /JS {_literal(SCRIPT)} >>".encode("ascii")),
    ]
    bodies = b""
    index = b""
    for number, body in inside:
        index += f"{number} {len(bodies)} ".encode("ascii")
        bodies += body + b"\n"
    packed = zlib.compress(index + bodies, 9)
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    plain = {2: _PAGES, **dict(enumerate(_page(["Quarterly report"], 3), start=3))}
    plain[8] = stream(f"/Type /ObjStm /N {len(inside)} /First {len(index)} /Filter /FlateDecode", packed)
    for number in sorted(plain):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode("ascii") + plain[number] + b"\nendobj\n"
    rows = bytearray(struct.pack(">BIH", 0, 0, 65535))
    in_stream = {number: i for i, (number, _) in enumerate(inside)}
    for number in range(1, 10):
        if number in in_stream:
            rows += struct.pack(">BIH", 2, 8, in_stream[number])
        elif number in offsets:
            rows += struct.pack(">BIH", 1, offsets[number], 0)
        else:
            rows += struct.pack(">BIH", 1, len(out), 0)  # object 9: the xref stream itself
    xref = len(out)
    out += b"9 0 obj\n" + stream("/Type /XRef /Size 10 /W [1 4 2] /Root 1 0 R", bytes(rows)) + b"\nendobj\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)


def broken_xref_pdf() -> bytes:
    """The JavaScript sample with every xref offset wrong and startxref pointing nowhere: readers (and qpdf)
    rebuild the table by scanning for objects."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    action = f"<< /Type /Action /S /JavaScript /JS {_literal(SCRIPT)} >>".encode("ascii")
    good = build_pdf([catalog, _PAGES, *_page(["Merry Christmas"], 3), action])
    head, _, _ = good.partition(b"xref\n")
    rows = "".join(f"{7 + 3 * n:010d} 00000 n \n" for n in range(6))
    tail = f"xref\n0 7\n0000000000 65535 f \n{rows}trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n999999\n%%EOF\n"
    return head + tail.encode("ascii")


def truncated_pdf() -> bytes:
    """An /OpenAction JavaScript sample cut off right after its last object (no xref, no trailer): qpdf rebuilds
    the catalog but loses the action object, so only the raw tokens show /OpenAction and /JavaScript."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    action = f"<< /Type /Action /S /JavaScript /JS {_literal(SCRIPT)} >>".encode("ascii")
    whole = build_pdf([catalog, _PAGES, *_page(["Merry Christmas"], 3), action])
    return whole[: whole.index(b"xref\n")]


def fragment_pdf() -> bytes:
    """A catalog without /Type and a JavaScript /OpenAction, no page tree, no xref, no trailer: qpdf cannot make
    a document of it at all (the raw-token fallback path)."""
    objects = [b"<< /OpenAction 2 0 R >>", f"<< /S /JavaScript /JS {_literal(SCRIPT)} >>".encode("ascii")]
    whole = build_pdf(objects)
    return whole[: whole.index(b"xref\n")] + b"%%EOF\n"


def encrypted_pdf(password: str = "pass-7731", url: str = "https://login.example.invalid/verify") -> bytes:
    """The JavaScript sample plus a /URI link, RC4-128 encrypted (R4) with user password `password`: nothing inside
    can be read without it."""
    import pikepdf

    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 7 0 R >>"
    link = f"<< /Type /Annot /Subtype /Link /Rect [50 600 550 800] /A << /S /URI /URI {_literal(url)} >> >>"
    action = f"<< /Type /Action /S /JavaScript /JS {_literal(SCRIPT)} >>".encode("ascii")
    plain = build_pdf(
        [catalog, _PAGES, *_page(["Invoice"], 3, annots="/Annots [6 0 R] "), link.encode("ascii"), action]
    )
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        out = io.BytesIO()
        pdf.save(
            out,
            encryption=pikepdf.Encryption(user=password, owner=password + "-owner", R=4, aes=False, metadata=False),
            static_id=True,
        )
    return out.getvalue()

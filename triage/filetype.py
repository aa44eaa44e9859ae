"""Content type tags for an artifact: our own signatures first, python-magic (libmagic) for the rest.

The engine, unpackers and analyzers dispatch on these exact strings. `FileTyper.tags(data, name)` returns a
deterministic tuple, the family first and refinements after it (``("zip", "ooxml", "docx")``); an empty input is
``("empty",)`` and anything unrecognised is ``("unknown",)``. The engine itself adds ``"unreadable"`` for content
it could not read.

| tag | meaning |
| --- | --- |
| ``text`` | no NUL and almost no control bytes (UTF-16 by its BOM); short inputs must also decode |
| ``email`` | (with ``text``, and nothing else) an RFC 822 message: leading header lines, two well-known ones |
| ``html`` | (with ``text``) an HTML document |
| ``svg`` | (with ``text``) an SVG image: markup that can carry script |
| ``hta`` | an HTML Application: ``<hta:application`` in the content, or a text file named ``.hta`` |
| ``wsf`` | a Windows Script File: ``<job>``/``<package>`` with ``<script``, or a text file named ``.wsf``/``.wsh`` |
| ``script-js`` ``script-vbs`` ``script-ps1`` ``script-bat`` | a text file named as such a script (below) |
| ``script-encoded`` | a Script Encoder (``.jse``/``.vbe``) blob, ``#@~^``, whatever its name |
| ``pdf`` | ``%PDF-`` within the first 1024 bytes (Acrobat tolerates leading junk) |
| ``rtf`` | starts with ``{\\rt`` (Word needs no more than that) |
| ``zip`` | a zip archive; refinements ``ooxml`` (+ ``docx``/``xlsx``/``pptx`` by member names) and ``jar`` |
| ``ole`` | an OLE2 compound file; refinements ``msi``, ``doc``, ``xls``, ``ppt``, ``msg`` (Outlook), |
|  | ``ooxml-encrypted`` (a password-protected docx/xlsx/pptx is an OLE file with an EncryptedPackage), |
|  | ``jtd`` (an Ichitaro document: a DocumentText or JSCompDocument stream) |
| ``pe`` | MZ with a valid PE header; + ``pe-exe`` or ``pe-dll`` (Characteristics), + ``dotnet`` (CLR directory) |
| ``msdos`` | an MZ executable without a PE header (libmagic's word) |
| ``elf`` ``macho`` | Unix executables |
| ``lnk`` ``chm`` ``onenote`` | Windows shortcut, compiled HTML help, OneNote section |
| ``gzip`` ``bzip2`` ``xz`` ``tar`` ``7z`` ``rar`` ``lzh`` ``ace`` ``cab`` | compressed files and archives |
| ``iso`` ``vhd`` | disk images: ISO 9660 / UDF (CD001, BEA01 at 0x8001...), VHD and VHDX |
| ``image`` | a raster image (PNG, JPEG, GIF, BMP, TIFF, WebP, ICO, EMF/WMF, or libmagic's image/*) |

Scripts: a ``.js`` file is plain text, and what makes it a script is the extension Windows Script Host acts on.
So a *text* file named ``*.js``/``*.jse``, ``*.vbs``/``*.vbe``, ``*.ps1``/``*.psm1``, ``*.bat``/``*.cmd``,
``*.wsf``/``*.wsh`` or ``*.hta`` gets ``text`` plus the script's tag; a binary file with such a name gets none
(that is a name/content mismatch, for the filename analyzer). Only ``script-encoded``, ``hta`` and ``wsf`` are
also recognised from content alone.

Order, for hostile input: magic at offset 0 first; then the message check, on raw bytes (a NUL or a planted
"%PDF-", "ustar" or "CD001" must not stop a mail from being parsed as one); then a PDF header anywhere in the
first 1024 bytes; then text; then signatures away from offset 0 (tar, VHD footer, ISO/UDF); then libmagic.

Speed: the common parts of a mail (text, HTML, PDF, Office, archives, images, executables) are recognised by
our signatures in microseconds; libmagic, which costs about a millisecond (several on text), sees only what
they do not recognise, and only the first 64 KiB of it. Every parser here is bounded and tolerates truncated
or malicious headers.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from triage.names import real_extension

__all__ = ["MAGIC_PREFIX", "SCRIPT_EXTENSIONS", "TAGS", "FileTyper"]

MAGIC_PREFIX = 64 * 1024  # the most libmagic and our text checks ever read
_SNIFF = 4096  # markup and header checks look this far
_TEXT_DECISION = 8192  # text or binary is decided on this much
_TEXT_TRUSTED = 256  # a probe this long with no NUL and few control bytes is text whatever its charset
_MAX_ZIP_ENTRIES = 10_000
_MAX_OLE_DIR_SECTORS = 256

# Every tag FileTyper can return, plus "unreadable", which the engine sets. Rules files are validated against it.
TAGS = frozenset(
    {
        "empty",
        "unknown",
        "unreadable",
        "text",
        "email",
        "html",
        "svg",
        "hta",
        "wsf",
        "script-js",
        "script-vbs",
        "script-ps1",
        "script-bat",
        "script-encoded",
        "pdf",
        "rtf",
        "zip",
        "ooxml",
        "docx",
        "xlsx",
        "pptx",
        "jar",
        "ole",
        "msi",
        "doc",
        "xls",
        "ppt",
        "msg",
        "ooxml-encrypted",
        "jtd",
        "pe",
        "pe-exe",
        "pe-dll",
        "dotnet",
        "msdos",
        "elf",
        "macho",
        "lnk",
        "chm",
        "onenote",
        "gzip",
        "bzip2",
        "xz",
        "tar",
        "7z",
        "rar",
        "lzh",
        "ace",
        "cab",
        "iso",
        "vhd",
        "image",
    }
)

# text file extension -> the tag it adds
SCRIPT_EXTENSIONS: dict[str, str] = {
    "js": "script-js",
    "jse": "script-js",
    "vbs": "script-vbs",
    "vbe": "script-vbs",
    "ps1": "script-ps1",
    "psm1": "script-ps1",
    "bat": "script-bat",
    "cmd": "script-bat",
    "wsf": "wsf",
    "wsh": "wsf",
    "hta": "hta",
}

_EMAIL_HEADERS = frozenset(
    {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"received",
        b"message-id",
        b"mime-version",
        b"return-path",
        b"content-type",
        b"cc",
        b"reply-to",
        b"sender",
        b"delivered-to",
        b"x-mailer",
        b"user-agent",
        b"content-transfer-encoding",
        b"dkim-signature",
        b"authentication-results",
        b"in-reply-to",
        b"references",
        b"thread-topic",
        b"thread-index",
    }
)
_HEADER_LINE = re.compile(rb"([!-9;-~]+)[ \t]*:")
_HTML_MARKERS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<iframe",
    b"<meta ",
    b"<title",
    b"<frameset",
)

# C0 controls that do not occur in text (TAB LF VT FF CR and ESC, which ISO-2022-JP needs, are allowed)
_BAD_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_BAD_CONTROLS_STR = dict.fromkeys(_BAD_CONTROLS)
_ASCII = bytes(range(0x80))

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LNK_MAGIC = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_ONENOTE_MAGIC = bytes.fromhex("E4525C7B8CD8A74DAEB15378D02996D3")
_MSI_CLSIDS = frozenset(
    bytes.fromhex(h)
    for h in (
        "84100c00000000000c00000000000046",  # {000C1084-...} installer package
        "86100c00000000000c00000000000046",  # {000C1086-...} patch (.msp)
        "82100c00000000000c00000000000046",  # {000C1082-...} transform (.mst)
    )
)
_MSG_CLSID = bytes.fromhex("0b0d020000000000c000000000000046")  # {00020D0B-...} Outlook message

# Fixed-offset signatures checked in order; the first match decides (more specific ones come first).
_SIGNATURES: tuple[tuple[bytes, tuple[str, ...]], ...] = (
    (b"\x7fELF", ("elf",)),
    (b"\xfe\xed\xfa\xce", ("macho",)),
    (b"\xfe\xed\xfa\xcf", ("macho",)),
    (b"\xce\xfa\xed\xfe", ("macho",)),
    (b"\xcf\xfa\xed\xfe", ("macho",)),
    (_LNK_MAGIC, ("lnk",)),
    (_ONENOTE_MAGIC, ("onenote",)),
    (b"ITSF", ("chm",)),
    (b"{\\rt", ("rtf",)),
    (b"\x1f\x8b", ("gzip",)),
    (b"BZh", ("bzip2",)),
    (b"\xfd7zXZ\x00", ("xz",)),
    (b"7z\xbc\xaf\x27\x1c", ("7z",)),
    (b"Rar!\x1a\x07", ("rar",)),
    (b"MSCF\x00\x00\x00\x00", ("cab",)),
    (b"vhdxfile", ("vhd",)),
    (b"conectix", ("vhd",)),
    (b"\x89PNG\r\n\x1a\n", ("image",)),
    (b"\xff\xd8\xff", ("image",)),
    (b"GIF87a", ("image",)),
    (b"GIF89a", ("image",)),
    (b"II*\x00", ("image",)),
    (b"MM\x00*", ("image",)),
    (b"\xd7\xcd\xc6\x9a", ("image",)),  # WMF placeable
)
_LZH_METHOD = re.compile(rb"-(lh[0-7d]|lzs|lz[45])-")


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


class FileTyper:
    """Content type tags. One instance holds its own libmagic handles (not thread-safe: one per thread)."""

    def __init__(self) -> None:
        # libmagic is loaded on first need: importing python-magic alone costs ~50 ms, and most parts never
        # reach it.
        self._mime: Any = None
        self._describe: Any = None

    # -- public ----------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load libmagic and its database now (a long-running worker's warm-up), not on the first odd file."""
        self._mime_prefix(b"\0")
        self._describe_prefix(b"\0")

    def tags(self, data: bytes, name: str | None) -> tuple[str, ...]:
        """The type tags of `data` (family first). `name` only adds script tags to text content."""
        if not data:
            return ("empty",)
        head = data[:MAGIC_PREFIX]
        # Order matters for hostile input. Magic at offset 0 cannot coexist with mail headers, but every later
        # signature can be planted inside a message ("ustar" at 257, CD001 at 0x8001, "%PDF-" in a Subject),
        # so a message is recognised before them, and on raw bytes: a NUL in a header must not make a mail
        # skip MIME analysis.
        found = self._signature_tags(data)
        if not found and _looks_like_email(head):
            found = self._text_tags(head, head, name, email=True)
        if not found and data.find(b"%PDF-", 0, 1024) >= 0:
            found = ["pdf"]  # Acrobat opens a file whose header is anywhere in the first 1024 bytes
        if not found:
            sample = _text_sample(head)
            if sample is not None:
                found = self._text_tags(head, sample, name, email=sample is not head and _looks_like_email(sample))
        if not found:
            found = _loose_signature_tags(data)
        if not found:
            found = self._magic_tags(head)
        return tuple(dict.fromkeys(found)) if found else ("unknown",)

    # -- our signatures --------------------------------------------------------------------------------------
    def _signature_tags(self, data: bytes) -> list[str]:
        head = data[:16]
        if head.startswith(b"MZ"):
            pe = _pe_tags(data)
            if pe:
                return pe
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
            return _zip_tags(data)
        if head.startswith(_OLE_MAGIC):
            return self._ole_tags(data)
        if head.startswith(b"%PDF-"):
            return ["pdf"]
        for magic, tags in _SIGNATURES:
            if head.startswith(magic):
                return list(tags)
        if head[:4] == b"\xca\xfe\xba\xbe" and 0 < int.from_bytes(head[4:8], "big") < 32:
            return ["macho"]  # fat binary; a Java class has its version (>= 45) in that place instead
        if len(data) >= 7 and _LZH_METHOD.match(data, 2):
            return ["lzh"]
        if data[7:14] == b"**ACE**":
            return ["ace"]  # WinACE: still sent by malspam because gateways cannot open it
        if head.startswith(b"BM") and len(data) >= 26 and data[6:10] == b"\x00\x00\x00\x00":
            return ["image"]
        if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return ["image"]
        if head.startswith(b"\x00\x00\x01\x00") and 0 < _u16(data, 4) < 256 and len(data) >= 22:
            return ["image"]  # ICO
        if head.startswith(b"\x01\x00\x00\x00") and data[40:44] == b" EMF":
            return ["image"]
        return []

    def _ole_tags(self, data: bytes) -> list[str]:
        tags = ["ole"]
        names, root_clsid = _ole_directory(data)
        if root_clsid in _MSI_CLSIDS:
            tags.append("msi")
        if root_clsid == _MSG_CLSID or any(n.startswith("__substg1.0_") for n in names):
            tags.append("msg")
        if "WordDocument" in names:
            tags.append("doc")
        if "Workbook" in names or "Book" in names:
            tags.append("xls")
        if "PowerPoint Document" in names:
            tags.append("ppt")
        if "EncryptedPackage" in names:
            tags.append("ooxml-encrypted")
        if "DocumentText" in names or "JSCompDocument" in names:
            tags.append("jtd")  # Ichitaro (.jtd/.jtt/.jtdc); JSCompDocument is its compressed form
        if len(tags) == 1:
            # our directory walk found nothing telling (truncated or unusual file): ask libmagic
            desc = self._describe_prefix(data[:MAGIC_PREFIX]).lower()
            mime = self._mime_prefix(data[:MAGIC_PREFIX])
            if "msi installer" in desc or mime == "application/x-msi":
                tags.append("msi")
            sub = {
                "application/msword": "doc",
                "application/vnd.ms-excel": "xls",
                "application/vnd.ms-powerpoint": "ppt",
                "application/vnd.ms-outlook": "msg",
            }.get(mime)
            if sub:
                tags.append(sub)
        return tags

    # -- text ------------------------------------------------------------------------------------------------
    def _text_tags(self, head: bytes, sample: bytes, name: str | None, *, email: bool) -> list[str]:
        """Tags of text content; `sample` is `head` as UTF-8-compatible bytes (UTF-16 is re-encoded)."""
        if email:
            # a message is unpacked, not run: markup or script words in its body describe its parts, not it
            return ["text", "email"]
        tags = ["text"]
        lowered = sample[:_SNIFF].lower()
        whole = sample.lower()
        # <svg> and <job> documents hold <script> too: they are not HTML pages
        wsf = (b"<job" in lowered or b"<package" in lowered) and b"<script" in whole
        svg = b"<svg" in lowered and b"<html" not in lowered
        if svg:
            tags.append("svg")
        elif not wsf and any(marker in lowered for marker in _HTML_MARKERS):
            tags.append("html")
        if b"<hta:application" in whole:
            tags.append("hta")
        if wsf:
            tags.append("wsf")
        if b"#@~^" in sample[:1024]:
            tags.append("script-encoded")
        if name:
            script = SCRIPT_EXTENSIONS.get(real_extension(name))
            if script:
                tags.append(script)
        return tags

    # -- libmagic --------------------------------------------------------------------------------------------
    def _magic_tags(self, head: bytes) -> list[str]:
        mime = self._mime_prefix(head)
        if mime.startswith("image/"):
            return ["image"]
        tags = _MIME_TAGS.get(mime)
        return list(tags) if tags else []

    def _mime_prefix(self, head: bytes) -> str:
        if self._mime is None:
            import magic

            self._mime = magic.Magic(mime=True)
        try:
            return str(self._mime.from_buffer(head))
        except Exception:  # libmagic refusing hostile input means "unknown", not a crash
            return ""

    def _describe_prefix(self, head: bytes) -> str:
        if self._describe is None:
            import magic

            self._describe = magic.Magic()
        try:
            return str(self._describe.from_buffer(head))
        except Exception:  # as above
            return ""


_MIME_TAGS: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "application/zip": ("zip",),
    "application/x-7z-compressed": ("7z",),
    "application/x-rar": ("rar",),
    "application/vnd.rar": ("rar",),
    "application/gzip": ("gzip",),
    "application/x-gzip": ("gzip",),
    "application/x-bzip2": ("bzip2",),
    "application/x-xz": ("xz",),
    "application/x-tar": ("tar",),
    "application/x-lzh-compressed": ("lzh",),
    "application/x-lha": ("lzh",),
    "application/vnd.ms-cab-compressed": ("cab",),
    "application/x-iso9660-image": ("iso",),
    "application/x-ole-storage": ("ole",),
    "application/CDFV2": ("ole",),
    "application/msword": ("ole", "doc"),
    "application/vnd.ms-excel": ("ole", "xls"),
    "application/vnd.ms-powerpoint": ("ole", "ppt"),
    "application/x-msi": ("ole", "msi"),
    "text/rtf": ("rtf",),
    "application/x-dosexec": ("msdos",),
    "application/x-executable": ("elf",),
    "application/x-sharedlib": ("elf",),
    "application/x-pie-executable": ("elf",),
    "application/x-mach-binary": ("macho",),
    "application/x-ms-shortcut": ("lnk",),
    "application/vnd.ms-htmlhelp": ("chm",),
    "message/rfc822": ("text", "email"),
    "text/html": ("text", "html"),
}


def _loose_signature_tags(data: bytes) -> list[str]:
    """Signatures away from offset 0: only for content that is neither a message nor text."""
    if data[257:262] == b"ustar":
        return ["tar"]
    if len(data) >= 512 and data[-512:-504] == b"conectix":
        return ["vhd"]  # fixed VHDs carry their footer only at the end
    if _is_disk_image(data):
        return ["iso"]
    return []


# -- text helpers --------------------------------------------------------------------------------------------
def _text_sample(head: bytes) -> bytes | None:
    """`head` as bytes to sniff (UTF-16 re-encoded as UTF-8) when it is text, else None.

    Whether it is text is decided on the first _TEXT_DECISION bytes, as git and libmagic do: enough to see the
    NULs and control bytes of any binary format, and cheap on large text.
    """
    probe = head[:_TEXT_DECISION]
    if probe.startswith((b"\xff\xfe", b"\xfe\xff")):
        decoded = probe[: len(probe) & ~1].decode("utf-16", errors="replace")
        bad = len(decoded) - len(decoded.translate(_BAD_CONTROLS_STR))
        if (bad + decoded.count("\ufffd")) * 100 > len(decoded):
            return None
        return head[: len(head) & ~1].decode("utf-16", errors="replace").encode("utf-8", errors="replace")
    if b"\x00" in probe:
        return None
    bad = len(probe) - len(probe.translate(None, _BAD_CONTROLS))
    if bad * 100 > len(probe):
        return None
    if len(probe) >= _TEXT_TRUSTED or _valid_utf8_prefix(probe):
        # Compressed, encrypted and executable data has NULs and control bytes within a few hundred bytes,
        # so past that, their absence is enough, whatever the charset: GBK, Big5 and EUC-KR bodies, or Shift_JIS
        # with a few broken bytes, are text to a Japanese CSIRT too.
        return head
    non_ascii = len(probe.translate(None, _ASCII))
    if non_ascii * 10 <= len(probe) * 3:
        return head  # mostly ASCII: Latin-1/cp1252 text, or UTF-8 with a few broken bytes
    for codec in ("cp932", "euc_jp", "gbk", "big5", "euc_kr"):
        try:
            probe.decode(codec)
        except UnicodeDecodeError as exc:
            if exc.start < len(probe) - 2:  # only the probe's last character may be cut
                continue
        return head
    return None


def _valid_utf8_prefix(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # the prefix may end inside a multi-byte character
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def starts_like_a_header(data: bytes) -> bool:
    """The first line (after an mbox "From " line) is an RFC 822 header field.

    For input handed to the engine *as a message*: a crafted fold or a stray line after the first header must not
    turn the whole mail into "html" and so skip MIME analysis, as the stricter sniff for attachments would.
    """
    text = data[:_SNIFF].lstrip(b" \t\r\n")
    if text.startswith(b"From "):
        text = text.partition(b"\n")[2]
    return _HEADER_LINE.match(text.partition(b"\n")[0]) is not None


def _looks_like_email(sample: bytes) -> bool:
    """A run of RFC 822 header lines at the start with at least two well-known field names."""
    text = sample[: _SNIFF * 4].lstrip(b" \t\r\n")
    if text.startswith(b"From "):  # mbox separator line
        text = text.partition(b"\n")[2]
    known = 0
    seen_header = False
    start = 0
    for _ in range(400):
        end = text.find(b"\n", start)
        line = (text[start:] if end < 0 else text[start:end]).rstrip(b"\r")
        start = end + 1
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if not seen_header:
                return False
        else:
            match = _HEADER_LINE.match(line)
            if match is None:
                break
            seen_header = True
            if match.group(1).lower() in _EMAIL_HEADERS:
                known += 1
                if known >= 2:
                    return True
        if end < 0:
            break
    return False


# -- PE --------------------------------------------------------------------------------------------------------
_IMAGE_FILE_DLL = 0x2000
_CLR_DIRECTORY = 14


def _pe_tags(data: bytes) -> list[str]:
    """pe, pe-exe/pe-dll and dotnet from the headers, or [] when there is no valid PE header."""
    if len(data) < 0x40:
        return []
    e_lfanew = _u32(data, 0x3C)
    if e_lfanew < 4 or e_lfanew + 24 > len(data) or data[e_lfanew : e_lfanew + 4] != b"PE\x00\x00":
        return []
    file_header = e_lfanew + 4
    _machine, _sections, _stamp, _symbols, _count, size_opt, characteristics = struct.unpack_from(
        "<HHIIIHH", data, file_header
    )
    tags = ["pe", "pe-dll" if characteristics & _IMAGE_FILE_DLL else "pe-exe"]
    opt = file_header + 20
    if size_opt < 2 or opt + 2 > len(data):
        return tags
    opt_magic = _u16(data, opt)
    if opt_magic == 0x10B:
        count_at, dirs_at = 92, 96
    elif opt_magic == 0x20B:
        count_at, dirs_at = 108, 112
    else:
        return tags
    clr_at = dirs_at + _CLR_DIRECTORY * 8
    if size_opt < clr_at + 8 or opt + clr_at + 8 > len(data):
        return tags
    if _u32(data, opt + count_at) > _CLR_DIRECTORY:
        rva, size = struct.unpack_from("<II", data, opt + clr_at)
        if rva and size:
            tags.append("dotnet")
    return tags


# -- zip -------------------------------------------------------------------------------------------------------
def _zip_tags(data: bytes) -> list[str]:
    names = _zip_member_names(data)
    tags = ["zip"]
    if b"[content_types].xml" in names:
        tags.append("ooxml")
        for prefix, tag in ((b"word/", "docx"), (b"xl/", "xlsx"), (b"ppt/", "pptx")):
            if any(n.startswith(prefix) for n in names):
                tags.append(tag)
                break
    if b"meta-inf/manifest.mf" in names or any(n.endswith(b".class") for n in names):
        tags.append("jar")
    return tags


def _zip_member_names(data: bytes) -> set[bytes]:
    """Lower-cased member names from the central directory, or from the local headers when that is broken."""
    names = _central_directory_names(data)
    return names if names else _local_header_names(data)


def _central_directory_names(data: bytes) -> set[bytes]:
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + 22 > len(data):
        return set()
    cd_size = _u32(data, eocd + 12)
    cd_offset = _u32(data, eocd + 16)
    if data[cd_offset : cd_offset + 4] != b"PK\x01\x02":
        cd_offset = eocd - cd_size  # data prepended to the archive (self-extractors) shifts every offset
        if cd_offset < 0 or data[cd_offset : cd_offset + 4] != b"PK\x01\x02":
            return set()
    names: set[bytes] = set()
    pos = cd_offset
    for _ in range(_MAX_ZIP_ENTRIES):
        if pos + 46 > len(data) or data[pos : pos + 4] != b"PK\x01\x02":
            break
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        names.add(data[pos + 46 : pos + 46 + name_len].lower())
        pos += 46 + name_len + extra_len + comment_len
    return names


def _local_header_names(data: bytes) -> set[bytes]:
    names: set[bytes] = set()
    pos = 0
    for _ in range(_MAX_ZIP_ENTRIES):
        if pos + 30 > len(data) or data[pos : pos + 4] != b"PK\x03\x04":
            break
        flags = _u16(data, pos + 6)
        compressed = _u32(data, pos + 18)
        name_len, extra_len = struct.unpack_from("<HH", data, pos + 26)
        names.add(data[pos + 30 : pos + 30 + name_len].lower())
        if flags & 0x08 and compressed == 0:
            break  # sizes are in a data descriptor after the data: the next header cannot be found cheaply
        pos += 30 + name_len + extra_len + compressed
    return names


# -- OLE -------------------------------------------------------------------------------------------------------
_FREESECT = 0xFFFFFFFF
_ENDOFCHAIN = 0xFFFFFFFE


def _ole_directory(data: bytes) -> tuple[set[str], bytes]:
    """Directory entry names and the root entry's CLSID, walking the directory chain through the FAT.

    Bounded: at most _MAX_OLE_DIR_SECTORS sectors, only FAT sectors named in the header's own DIFAT (109 of
    them cover a 7 MB file with 512-byte sectors: directories are near the start or end in practice).
    """
    if len(data) < 512:
        return set(), b""
    shift = _u16(data, 0x1E)
    if shift not in (9, 12):
        return set(), b""
    sector = 1 << shift
    per_fat_sector = sector // 4
    difat = [_u32(data, 0x4C + 4 * k) for k in range(109)]

    def offset(sid: int) -> int:
        return (sid + 1) * sector

    names: set[str] = set()
    root_clsid = b""
    sid = _u32(data, 0x30)
    seen: set[int] = set()
    while sid not in (_ENDOFCHAIN, _FREESECT) and sid not in seen and len(seen) < _MAX_OLE_DIR_SECTORS:
        seen.add(sid)
        base = offset(sid)
        if base + sector > len(data):
            break
        for entry in range(base, base + sector, 128):
            name_len = _u16(data, entry + 0x40)
            kind = data[entry + 0x42]
            if kind == 0 or not 2 <= name_len <= 64:
                continue
            names.add(data[entry : entry + name_len - 2].decode("utf-16-le", errors="replace"))
            if kind == 5 and not root_clsid:
                root_clsid = data[entry + 0x50 : entry + 0x60]
        fat_index = sid // per_fat_sector
        if fat_index >= len(difat):
            break
        fat_sector = difat[fat_index]
        if fat_sector in (_ENDOFCHAIN, _FREESECT):
            break
        at = offset(fat_sector) + (sid % per_fat_sector) * 4
        if at + 4 > len(data):
            break
        sid = _u32(data, at)
    return names, root_clsid


# -- disk images -----------------------------------------------------------------------------------------------
def _is_disk_image(data: bytes) -> bool:
    """ISO 9660 (CD001) or UDF (BEA01/NSR0x) volume descriptors in the first sectors past the system area."""
    if len(data) < 0x8006:
        return False
    for at in (0x8001, 0x8801, 0x9001):
        ident = data[at : at + 5]
        if ident == b"CD001":
            return True
        if ident == b"BEA01":
            return data.find(b"NSR0", 0x8001, 0x8001 + 16 * 2048) >= 0
    return False

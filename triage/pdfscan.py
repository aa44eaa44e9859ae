"""Walking a PDF for what it can do when opened: scripts, actions and their triggers, embedded files, links.

Shared by the PDF analyzer (findings) and the PDF unpacker (embedded files and JavaScript source as children), so
both read a document the same way.

Library: pikepdf (qpdf). qpdf is C++, fuzzed upstream (OSS-Fuzz), reconstructs damaged cross-reference tables the
way readers do, resolves object streams and decrypts RC4/AES strings and streams itself, and opens a 100 KB PDF in
well under a millisecond; importing pikepdf costs ~0.1 s against pypdf's ~0.16 s, and pypdf, pure Python, is
slower on large or damaged files. pikepdf is imported only when a PDF is met.

Bounds. qpdf decodes object streams itself when an object inside one is read; its decoders are capped through
qpdf's limits (`flate_max_memory` and friends; process-wide settings, set to the same values before every open).
Streams we read (JavaScript, embedded files, XFA, object streams for the token scan) are taken raw (decrypted, not
decoded) and decoded here with an output cap per call: qpdf has no per-call cap, and that is the one piece written
by hand (Flate, ASCIIHex, ASCII85, LZW, RunLength; PNG/TIFF predictors go back to qpdf once the size is known to be
bounded). The walk visits at most `max_objects` objects, follows `/Next` chains `max_action_depth` deep, and
checks the deadline as it goes.

Names are also scanned as raw tokens in the file's bytes and in decoded object streams, `#xx` escapes decoded
(`/J#61vaScript` is `/JavaScript`): that finds obfuscated names (qpdf hands them over already decoded), names the
parsed structure does not reach, and everything in a file qpdf cannot open at all (the fallback).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import itertools
import logging
import re
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.plugins import DeadlineExceeded, PasswordCandidate, PluginContext
from triage.unpack.trials import try_passwords

if TYPE_CHECKING:
    import pikepdf

__all__ = [
    "ACTIVE_ACTIONS",
    "TOKENS",
    "Action",
    "Decoded",
    "EmbeddedFile",
    "Encryption",
    "PdfDocument",
    "PdfFacts",
    "PdfLimits",
    "RawTokens",
    "Script",
    "open_document",
    "pdf_limits",
    "scan_pdf",
    "scan_tokens",
]

# Tokens counted in the raw bytes (pdfid's list, trimmed to what a reader acts on).
TOKENS = (
    "JavaScript",
    "JS",
    "OpenAction",
    "AA",
    "Launch",
    "EmbeddedFile",
    "EmbeddedFiles",
    "URI",
    "SubmitForm",
    "GoToR",
    "GoToE",
    "ImportData",
    "RichMedia",
    "XFA",
    "AcroForm",
    "Encrypt",
    "ObjStm",
    "JBIG2Decode",
)
_TOKEN_SET = frozenset(TOKENS)
_DELIM = rb"\x00\t\n\x0c\r ()<>\[\]{}/%"
# Regular characters of a name as writers produce them: printable ASCII but delimiters and "#" (ISO 32000 §7.3.5).
_REGULAR = rb"!\"$&'*+,\-.0-9:;=?@A-Z\\^_`a-z|~"
_END = rb"(?![^" + _DELIM + rb"])"  # a name ends at a delimiter, white space or the end of the data
_TOKEN_RE = re.compile(rb"/(" + b"|".join(t.encode() for t in TOKENS) + rb")" + _END)
_HEX_NAME_RE = re.compile(rb"/[" + _REGULAR + rb"]*#[0-9A-Fa-f]{2}(?:[" + _REGULAR + rb"]|#[0-9A-Fa-f]{2})*" + _END)
_ESCAPE_RE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM_RE = re.compile(rb"stream\r?\n")
_XFA_SCRIPT_RE = re.compile(rb"<script\b[^>]*>(.*?)</script\s*>", re.S | re.I)
_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MAX_TOKEN_HITS = 20_000  # regex matches per scanned buffer
_MAX_OBFUSCATED = 20
_MAX_FALLBACK_STREAMS = 2_000
_MAX_ARRAY_ITEMS = 10_000
_MAX_NAME_TREE_ENTRIES = 10_000
_DEADLINE_EVERY = 128

# Actions that do something outside the page view (ISO 32000 §12.6.4); the others (GoTo, Named, Hide...) move
# around the document.
ACTIVE_ACTIONS = frozenset(
    {"JavaScript", "Launch", "URI", "SubmitForm", "GoToR", "GoToE", "ImportData", "Rendition", "RichMediaExecute"}
)
_ACTION_KINDS = ACTIVE_ACTIONS | {
    "GoTo",
    "GoToDp",
    "Thread",
    "Sound",
    "Movie",
    "Hide",
    "Named",
    "SetOCGState",
    "Trans",
    "GoTo3DView",
    "ResetForm",
}
# /AA keys that fire without the user doing anything: page open/close, annotation page open/close/visible/
# invisible, document will-close/save/print. The others (mouse, focus, keystroke, format, validate, calculate)
# belong to form logic.
_AUTO_AA_KEYS = frozenset({"O", "C", "PO", "PC", "PV", "PI", "WC", "WS", "DS", "WP", "DP"})
_FILTER_ALIASES = {
    "Fl": "FlateDecode",
    "AHx": "ASCIIHexDecode",
    "A85": "ASCII85Decode",
    "LZW": "LZWDecode",
    "RL": "RunLengthDecode",
    "CCF": "CCITTFaxDecode",
    "DCT": "DCTDecode",
}
# Compressed bytes per zlib call: on damaged data the failing call loses its output, so keep calls small.
_IN_CHUNK = 4 * 1024

_Key = tuple[Any, ...]
# Entries under which no reader looks for actions, scripts or files: large, and not worth a walk.
_NO_ACTIONS_BELOW = frozenset(
    {
        "/Parent",
        "/Resources",
        "/Contents",
        "/MediaBox",
        "/CropBox",
        "/BleedBox",
        "/TrimBox",
        "/ArtBox",
        "/Rect",
        "/QuadPoints",
        "/Widths",
        "/W",
        "/DescendantFonts",
        "/FontDescriptor",
        "/Encoding",
        "/ColorSpace",
        "/Matrix",
        "/BBox",
        "/Decode",
        "/DecodeParms",
        "/Filter",
        "/ProcSet",
    }
)


def _first(item: tuple[str, Any]) -> str:
    return item[0]


# -- limits ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PdfLimits:
    """How far one walk goes ([analyzers.pdf] in analyzers.toml)."""

    max_objects: int = 100_000
    max_nesting: int = 32  # direct dictionaries/arrays inside one object
    max_action_depth: int = 16  # /Next chains
    max_decoded_stream: int = 32 * 1024 * 1024  # one decoded object stream / XFA stream; also qpdf's own caps
    max_script_bytes: int = 2 * 1024 * 1024  # one JavaScript source
    max_items: int = 200  # scripts, actions, embedded files, URIs kept per document

    def fields(self) -> Mapping[str, int]:
        return {
            "max_objects": self.max_objects,
            "max_nesting": self.max_nesting,
            "max_action_depth": self.max_action_depth,
            "max_decoded_stream": self.max_decoded_stream,
            "max_script_bytes": self.max_script_bytes,
            "max_items": self.max_items,
        }


def pdf_limits(options: Mapping[str, Any], section: str, extra_keys: frozenset[str] = frozenset()) -> PdfLimits:
    """PdfLimits from an options table; an unknown key or a non-positive integer is a ConfigError."""
    defaults = PdfLimits().fields()
    unknown = sorted(set(options) - set(defaults) - extra_keys)
    if unknown:
        raise ConfigError(f"[{section}]: unknown option(s) {', '.join(unknown)}")
    values: dict[str, int] = {}
    for key, default in defaults.items():
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"[{section}] {key} must be a positive integer")
        values[key] = value
    return PdfLimits(**values)


# -- what a walk finds -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawTokens:
    """Names found as raw tokens: counts by decoded name, and names written with needless `#xx` escapes."""

    counts: Mapping[str, int]
    obfuscated: tuple[tuple[str, str], ...] = ()  # (as written, decoded)

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


@dataclass(frozen=True)
class Action:
    """One action dictionary: kind (its /S), where it is, what fires it, and its target."""

    kind: str
    obj: int  # the object holding it
    triggers: tuple[str, ...]  # e.g. "/OpenAction", "page /AA /O"; empty when nothing we saw fires it
    auto: bool  # fired without the user doing anything
    target: str | None = None  # Launch file, URI, SubmitForm/GoToR/ImportData file or URL
    params: str | None = None  # Launch /Win /P
    target_is_url: bool = False


@dataclass(frozen=True)
class Script:
    """JavaScript source: from a /JS entry (string or stream) or an XFA <script>."""

    obj: int
    context: str  # "JavaScript action", "document-level JavaScript (/Names)", "XFA form"...
    auto: bool
    triggers: tuple[str, ...]
    text: str
    truncated: bool = False


@dataclass(frozen=True)
class Decoded:
    """A stream decoded under a cap. `problem`: None, "too_large", "unsupported ...", "corrupt ..."."""

    data: bytes
    problem: str | None = None
    truncated: bool = False  # the encoded data ended early; `data` is what it held

    @property
    def complete(self) -> bool:
        return self.problem is None and not self.truncated


@dataclass(frozen=True)
class EmbeddedFile:
    """An embedded file stream and the file specification naming it."""

    obj: int  # the stream's object number and generation
    gen: int
    name: str | None
    contexts: tuple[str, ...]  # "/EmbeddedFiles", "FileAttachment annotation", "file spec", "unreferenced"
    declared_size: int | None  # /Params /Size: what the writer claims
    subtype: str | None  # a MIME type, as written
    head: bytes = b""  # the first bytes of the content, when asked for


@dataclass(frozen=True)
class Encryption:
    encrypted: bool
    description: str = ""  # e.g. "AES-256 (R6)"
    needs_user_password: bool = False
    opened_with: PasswordCandidate | None = None
    tried: int = 0


@dataclass(frozen=True)
class PdfFacts:
    """Everything one walk found. `parsed` is False when qpdf could not open the file: only `tokens` is filled."""

    parsed: bool
    error: str | None = None
    encryption: Encryption = field(default_factory=lambda: Encryption(encrypted=False))
    repaired: bool = False
    warnings: tuple[str, ...] = ()
    objects: int = 0
    objects_skipped: int = 0  # past max_objects
    damaged_objects: int = 0
    qpdf_limit_hits: int = 0
    actions: tuple[Action, ...] = ()
    scripts: tuple[Script, ...] = ()
    embedded: tuple[EmbeddedFile, ...] = ()
    uris: tuple[str, ...] = ()
    xfa: bool = False
    rich_media: bool = False
    tokens: RawTokens = field(default_factory=lambda: RawTokens(counts={}))
    reached: Mapping[str, int] = field(default_factory=dict)  # the same names, as keys and values the walk met
    unreadable_streams: int = 0  # fallback: streams that would not inflate


# -- raw tokens ------------------------------------------------------------------------------------------------


class _TokenCounter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.obfuscated: dict[tuple[str, str], None] = {}

    def scan(self, data: bytes, ctx: PluginContext) -> None:
        for hits, match in enumerate(_TOKEN_RE.finditer(data)):
            if hits >= _MAX_TOKEN_HITS:
                break
            if hits % 1024 == 0:
                ctx.check_deadline()
            name = match.group(1).decode("ascii")
            self.counts[name] = self.counts.get(name, 0) + 1
        for hits, match in enumerate(_HEX_NAME_RE.finditer(data)):
            if hits >= _MAX_TOKEN_HITS:
                break
            if hits % 1024 == 0:
                ctx.check_deadline()
            raw = match.group(0)
            if _in_url(data, match.start()):
                continue  # "https://host/page#41" in a string is a URL fragment, not a name
            escaped = [int(m.group(1), 16) for m in _ESCAPE_RE.finditer(raw)]
            decoded = _ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), raw[1:]).decode("latin-1")
            if decoded in _TOKEN_SET:
                self.counts[decoded] = self.counts.get(decoded, 0) + 1
            # A letter or digit never needs an escape: writing one so hides the name from naive scanners.
            if any(b in _ALNUM for b in escaped) and len(self.obfuscated) < _MAX_OBFUSCATED:
                self.obfuscated.setdefault((raw.decode("latin-1")[:80], "/" + decoded[:80]), None)

    def result(self) -> RawTokens:
        return RawTokens(counts=dict(self.counts), obfuscated=tuple(self.obfuscated))


_URL_LOOKBACK = 256
_URL_RUN_RE = re.compile(rb"://[^\x00\t\n\x0c\r ()<>\[\]{}]*\Z")


def _in_url(data: bytes, start: int) -> bool:
    """True when the bytes before `start` continue a URL (scheme "://" with no white space or bracket since)."""
    return _URL_RUN_RE.search(data, max(0, start - _URL_LOOKBACK), start) is not None


def scan_tokens(data: bytes, ctx: PluginContext) -> RawTokens:
    """Raw-token counts and obfuscated names in one buffer."""
    counter = _TokenCounter()
    counter.scan(data, ctx)
    return counter.result()


# -- bounded stream decoding -----------------------------------------------------------------------------------


def _inflate(data: bytes, cap: int, check: Callable[[], None]) -> tuple[bytes, bool, str | None]:
    """(output, truncated, error), output stopping just past `cap`. Corrupt data keeps what inflated before the
    damage, as readers do."""
    out = bytearray()
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):  # some writers omit the zlib header
        decomp = zlib.decompressobj(wbits)
        out = bytearray()
        pos = 0
        try:
            while pos < len(data) or decomp.unconsumed_tail:
                check()
                chunk = decomp.unconsumed_tail or data[pos : pos + _IN_CHUNK]
                if not decomp.unconsumed_tail:
                    pos += len(chunk)
                out += decomp.decompress(chunk, cap + 1 - len(out))
                if len(out) > cap or decomp.eof:
                    return bytes(out), False, None
            return bytes(out), True, None
        except zlib.error as exc:
            if out or wbits < 0:
                return bytes(out), False, f"corrupt Flate data: {exc}"
    return bytes(out), False, "corrupt Flate data"


def _ascii_hex(data: bytes) -> bytes:
    end = data.find(b">")
    digits = re.sub(rb"[^0-9A-Fa-f]", b"", data if end < 0 else data[:end])
    if len(digits) % 2:
        digits += b"0"
    return binascii.unhexlify(digits)


def _ascii85(data: bytes) -> bytes:
    body = data.strip()
    if body.startswith(b"<~"):
        body = body[2:]
    end = body.find(b"~>")
    if end >= 0:
        body = body[:end]
    body = re.sub(rb"\s", b"", body)
    return base64.a85decode(body)


def _run_length(data: bytes, cap: int, check: Callable[[], None]) -> bytes:
    out = bytearray()
    i = 0
    runs = 0
    while i < len(data):
        runs += 1
        if runs % 65536 == 0:
            check()
        length = data[i]
        if length == 128:
            break
        if length < 128:
            out += data[i + 1 : i + 2 + length]
            i += length + 2
        else:
            out += data[i + 1 : i + 2] * (257 - length)
            i += 2
        if len(out) > cap:
            break
    return bytes(out)


def _lzw(data: bytes, cap: int, early: int, check: Callable[[], None]) -> bytes:
    out = bytearray()
    table: list[bytes] = [bytes((i,)) for i in range(256)] + [b"", b""]
    bits = 9
    buf = 0
    nbits = 0
    prev: bytes | None = None
    for index, byte in enumerate(data):
        if index % 65536 == 0:
            check()
        buf = (buf << 8) | byte
        nbits += 8
        while nbits >= bits:
            nbits -= bits
            code = (buf >> nbits) & ((1 << bits) - 1)
            buf &= (1 << nbits) - 1
            if code == 256:
                del table[258:]
                bits = 9
                prev = None
                continue
            if code == 257:
                return bytes(out)
            if code < len(table):
                entry = table[code]
                if prev is not None:
                    table.append(prev + entry[:1])
            elif code == len(table) and prev is not None:
                entry = prev + prev[:1]
                table.append(entry)
            else:
                raise ValueError("invalid LZW code")
            out += entry
            if len(out) > cap:
                return bytes(out)
            prev = entry
            if len(table) + early >= (1 << bits) and bits < 12:
                bits += 1
    return bytes(out)


def _filters(stream: pikepdf.Stream) -> tuple[list[str], list[Any]]:
    import pikepdf

    raw = stream.stream_dict.get("/Filter")
    parms = stream.stream_dict.get("/DecodeParms")
    names = [raw] if isinstance(raw, pikepdf.Name) else list(raw) if isinstance(raw, pikepdf.Array) else []
    filters = [_FILTER_ALIASES.get(f, f) for f in (_name(n) for n in names) if f is not None]
    plist = list(parms) if isinstance(parms, pikepdf.Array) else [parms] * len(filters)
    plist += [None] * (len(filters) - len(plist))
    return filters, plist


def _predictor(parm: Any) -> int:
    import pikepdf

    if isinstance(parm, pikepdf.Dictionary):
        value = parm.get("/Predictor")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(value) if value is not None else 1
        except (TypeError, ValueError):
            return 1
    return 1


def decode_stream(
    stream: pikepdf.Stream, cap: int | Callable[[int], int], ctx: PluginContext, *, head: bool = False
) -> Decoded:
    """A stream's data with its filters undone, never more than `cap` bytes of output (a callable gets the
    encoded size, for a bomb ratio). Past the cap: problem "too_large" and no data, or with `head`, the first
    `cap` bytes marked truncated.
    """
    import pikepdf

    try:
        data = bytes(stream.read_raw_bytes())
        filters, parms = _filters(stream)
        if callable(cap):
            cap = cap(len(data))
    except DeadlineExceeded:
        raise
    except Exception as exc:  # qpdf on a damaged stream (bad /Length, unreadable offset...)
        return Decoded(b"", problem=f"corrupt stream: {_short(exc)}")
    truncated = False
    needs_qpdf = False
    try:
        for name, parm in zip(filters, parms, strict=True):
            ctx.check_deadline()
            if name == "FlateDecode":
                data, cut, error = _inflate(data, cap, ctx.check_deadline)
                truncated = truncated or cut
                if error is not None:
                    return Decoded(data[:cap], problem=error)
            elif name == "ASCIIHexDecode":
                data = _ascii_hex(data)
            elif name == "ASCII85Decode":
                data = _ascii85(data)
            elif name == "LZWDecode":
                early = 1
                if isinstance(parm, pikepdf.Dictionary) and parm.get("/EarlyChange") == 0:
                    early = 0
                data = _lzw(data, cap, early, ctx.check_deadline)
            elif name == "RunLengthDecode":
                data = _run_length(data, cap, ctx.check_deadline)
            elif name == "Crypt":
                continue  # qpdf already decrypted the raw data
            else:
                return Decoded(data[:cap], problem=f"unsupported filter {name}")
            if name in ("FlateDecode", "LZWDecode") and _predictor(parm) > 1:
                needs_qpdf = True
            if len(data) > cap:
                if not head:
                    return Decoded(b"", problem="too_large")
                # Each filter here decodes a prefix of its input into a prefix of its output: go on with it.
                data = data[:cap]
                truncated = True
    except (ValueError, binascii.Error) as exc:
        return Decoded(data[:cap], problem=f"corrupt data: {_short(exc)}")
    if needs_qpdf and not truncated:
        # The compressed stages are known to fit the cap; predictors only reorder bytes, so qpdf may finish.
        try:
            data = bytes(stream.read_bytes(decode_level=pikepdf.StreamDecodeLevel.generalized))[:cap]
        except DeadlineExceeded:
            raise
        except Exception as exc:  # qpdf refusing a damaged predictor stream
            return Decoded(data[:cap], problem=f"corrupt predictor data: {_short(exc)}")
    return Decoded(data[:cap], truncated=truncated)


_STREAM_NAME_RE = re.compile(r"(?:stream )?<_io\.BytesIO object at 0x[0-9a-fA-F]+>:?\s*")


def _short(exc: BaseException | str) -> str:
    """An exception as a short, stable detail (qpdf names our in-memory stream by its address: dropped)."""
    text = _STREAM_NAME_RE.sub("", str(exc).replace("\n", " "))
    return text[:160]


# -- text ------------------------------------------------------------------------------------------------------


def pdf_text(raw: bytes) -> str:
    """A PDF text string or script stream as text: UTF-16BE or UTF-8 by their BOM, else UTF-8, else Latin-1."""
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _str(obj: Any) -> str | None:
    import pikepdf

    if isinstance(obj, pikepdf.String):
        return pdf_text(bytes(obj))
    if isinstance(obj, pikepdf.Name):
        return _name(obj)
    return None


def _name(obj: Any) -> str | None:
    """A name object without its slash; bytes that are not UTF-8 (pikepdf's str() refuses them) as Latin-1."""
    import pikepdf

    if not isinstance(obj, pikepdf.Name):
        return None
    try:
        return str(obj)[1:]
    except UnicodeDecodeError:
        written = bytes(obj.unparse())[1:]
        return _ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), written).decode("latin-1")


def _filespec(obj: Any) -> tuple[str | None, bool]:
    """(file name or URL, is_url) from a file specification: a string or a dictionary."""
    import pikepdf

    text = _str(obj)
    if text is not None:
        return text, _looks_like_url(text)
    if isinstance(obj, pikepdf.Dictionary):
        for key in ("/UF", "/F", "/Unix", "/DOS", "/Mac"):
            value = _str(obj.get(key))
            if value:
                return value, _name(obj.get("/FS")) == "URL" or _looks_like_url(value)
    return None, False


def _looks_like_url(text: str) -> bool:
    return bool(re.match(r"(?i)^(https?|ftp|file|smb)://", text.strip()))


# -- opening ---------------------------------------------------------------------------------------------------


def _apply_qpdf_limits(limits: PdfLimits) -> None:
    """qpdf's process-wide settings, the same before every open: decoder caps, and its log kept off stderr.

    Some qpdf repair messages bypass the document's warning list and reach Python logging as "pikepdf._core";
    with no handler configured, logging's last resort prints them to stderr (a gateway's log). The document's
    own warnings (Pdf.get_warnings) still tell what was repaired.
    """
    import pikepdf

    logging.getLogger("pikepdf._core").setLevel(logging.CRITICAL + 1)
    cap = limits.max_decoded_stream
    pikepdf.settings.set_qpdf_limits(
        flate_max_memory=cap,
        run_length_max_memory=cap,
        png_max_memory=cap,
        tiff_max_memory=cap,
        doc_max_warnings=10_000,
    )


def _open(data: bytes, password: str | bytes) -> pikepdf.Pdf:
    import pikepdf

    return pikepdf.open(io.BytesIO(data), password=password, suppress_warnings=True)


def _describe_encryption(pdf: pikepdf.Pdf) -> str:
    try:
        info = pdf.encryption
        method = {"aesv3": "AES-256", "aesv2": "AES-128", "rc4": f"RC4-{info.bits}"}.get(
            info.stream_method.name, info.stream_method.name
        )
        return f"{method} (R{info.R})"
    except Exception:  # qpdf on an odd /Encrypt dictionary
        return "unknown method"


_RAW_REVISION_RE = re.compile(rb"/R\s+(\d)\b")


def _raw_encryption(data: bytes) -> str:
    """The security handler's revision, read near /Standard in the raw bytes (the dictionary is not encrypted)."""
    at = data.find(b"/Standard")
    if at < 0:
        return "unknown method"
    match = _RAW_REVISION_RE.search(data, max(0, at - 600), at + 600)
    return f"standard security handler (R{match.group(1).decode()})" if match else "standard security handler"


def _password_forms(value: str) -> list[str | bytes]:
    forms: list[str | bytes] = [value]
    if not value.isascii():
        with contextlib.suppress(UnicodeEncodeError):
            forms.append(value.encode("cp932"))  # Japanese Windows tools
    return forms


def open_pdf(data: bytes, ctx: PluginContext) -> tuple[pikepdf.Pdf | None, Encryption, str | None]:
    """(document or None, encryption, error). A user password is tried from the message's candidates."""
    import pikepdf

    try:
        pdf = _open(data, "")
    except pikepdf.PasswordError:
        pass
    except DeadlineExceeded:
        raise
    except Exception as exc:  # qpdf could not make a document of it, even after repair
        return None, Encryption(encrypted=False), _short(exc)
    else:
        if pdf.is_encrypted:
            return pdf, Encryption(encrypted=True, description=_describe_encryption(pdf)), None
        return pdf, Encryption(encrypted=False), None

    def attempt(value: str) -> pikepdf.Pdf | None:
        for form in _password_forms(value):
            try:
                return _open(data, form)
            except pikepdf.PasswordError:
                continue
            except DeadlineExceeded:
                raise
            except Exception:  # damaged past the password check: no candidate will do better
                return None
        return None

    opened, tried = try_passwords(ctx, attempt, kind="document")
    if opened is None:
        return None, Encryption(True, _raw_encryption(data), needs_user_password=True, tried=tried), None
    pdf = opened.value
    return pdf, Encryption(True, _describe_encryption(pdf), True, opened.candidate, tried), None


# -- the walk --------------------------------------------------------------------------------------------------


@dataclass
class _ActionRec:
    kind: str
    obj: int
    target: str | None = None
    params: str | None = None
    target_is_url: bool = False
    js: Any = None  # the /JS value


@dataclass
class _FileSpec:
    obj: int
    name: str | None
    streams: list[Any]


class _Walker:
    """One walk over one open document. Mutable, private to open_document."""

    def __init__(self, pdf: pikepdf.Pdf, ctx: PluginContext, limits: PdfLimits, tokens: _TokenCounter) -> None:
        self.pdf = pdf
        self.ctx = ctx
        self.limits = limits
        self.tokens = tokens
        self.actions: dict[_Key, _ActionRec] = {}
        self.triggers: dict[_Key, dict[str, bool]] = {}  # action key -> {label: auto}
        self.next_edges: dict[_Key, list[_Key]] = {}
        self.filespecs: dict[_Key, _FileSpec] = {}
        self.file_labels: dict[_Key, dict[str, None]] = {}
        self.embedded_streams: dict[tuple[int, int], Any] = {}
        self.xfa_streams: list[Any] = []
        self.rich_media = False
        self.xfa = False
        self.visited = 0
        self.skipped = 0
        self.damaged = 0
        self.steps = 0
        self.reached: dict[str, int] = {}

    # -- keys ------------------------------------------------------------------------------------------------
    @staticmethod
    def _key(obj: Any, owner: tuple[int, int], path: tuple[str, ...]) -> _Key:
        if obj.is_indirect:
            return ("o", *obj.objgen)
        return ("d", *owner, *path)

    @staticmethod
    def _base(obj: Any, owner: tuple[int, int], path: tuple[str, ...]) -> tuple[tuple[int, int], tuple[str, ...]]:
        """Where `obj`'s own children are keyed from."""
        return (obj.objgen, ()) if obj.is_indirect else (owner, path)

    def _tick(self) -> None:
        self.steps += 1
        if self.steps % _DEADLINE_EVERY == 0:
            self.ctx.check_deadline()

    # -- sweep -----------------------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Visit every object the cross-reference table lists (in use, in object number order), up to
        max_objects. Objects are resolved one at a time: listing them all first (pdf.objects) would parse every
        object stream of a huge file before the cap could apply."""
        table = self.pdf.get_xref_table()
        in_use = sorted(objgen for objgen, entry in table.items() if entry.type in (1, 2))
        for index, objgen in enumerate(in_use):
            if self.visited >= self.limits.max_objects:
                self.skipped = len(in_use) - index
                break
            self._tick()
            self.visited += 1
            try:
                obj = self.pdf.get_object(objgen)
                if obj is None or not obj.is_indirect:  # qpdf could not parse it (after repair), or it is null
                    self.damaged += 1
                    continue
                self._visit(obj, obj.objgen, (), 0)
            except DeadlineExceeded:
                raise
            except Exception:  # one damaged object must not stop the walk
                self.damaged += 1

    def _visit(self, obj: Any, owner: tuple[int, int], path: tuple[str, ...], depth: int) -> None:
        import pikepdf

        if depth > self.limits.max_nesting:
            return
        if isinstance(obj, pikepdf.Stream):
            self._stream(obj)
            container: Any = obj.stream_dict
        elif isinstance(obj, pikepdf.Dictionary | pikepdf.Array):
            container = obj
        else:
            return
        if isinstance(container, pikepdf.Dictionary):
            # One items() call: every pikepdf call costs microseconds, and big documents have 10^5 objects.
            entries: dict[str, Any] = dict(container.items())
            self._dict(container, entries, obj, owner, path)
            items: Iterator[tuple[str, Any]] = (
                (k, v) for k, v in sorted(entries.items(), key=_first) if k not in _NO_ACTIONS_BELOW
            )
        else:
            items = ((f"[{i}]", v) for i, v in enumerate(itertools.islice(container, _MAX_ARRAY_ITEMS)))
        for segment, child in items:
            self._tick()
            if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
                self._visit(child, owner, (*path, segment), depth + 1)

    def _stream(self, stream: pikepdf.Stream) -> None:
        kind = _name(stream.stream_dict.get("/Type"))
        if kind == "ObjStm":
            decoded = decode_stream(stream, self.limits.max_decoded_stream, self.ctx, head=True)
            self.tokens.scan(decoded.data, self.ctx)
        elif kind == "EmbeddedFile" and len(self.embedded_streams) < self.limits.max_items:
            self.embedded_streams.setdefault(stream.objgen, stream)

    def _dict(self, container: Any, d: dict[str, Any], obj: Any, owner: tuple[int, int], path: tuple[str, ...]) -> None:
        """What one dictionary (`container`, its entries `d`) is: an action, a trigger, a file spec..."""
        import pikepdf

        key = self._key(obj, owner, path)
        base_owner, base_path = self._base(obj, owner, path)
        keys = d.keys()
        kind = _name(d.get("/S"))
        typ = _name(d.get("/Type"))
        subtype = _name(d.get("/Subtype"))
        objnum = base_owner[0]
        for name in (*(k[1:] for k in keys), kind, typ):
            if name in _TOKEN_SET:
                self.reached[name] = self.reached.get(name, 0) + 1

        if "/JS" in keys or kind in _ACTION_KINDS:
            self._action(d, key, kind or "JavaScript", objnum)
        if "/Next" in keys:
            nxt: Any = d["/Next"]
            many = isinstance(nxt, pikepdf.Array)
            targets = list(enumerate(itertools.islice(nxt, _MAX_ARRAY_ITEMS))) if many else [(-1, nxt)]
            for i, target in targets:
                if isinstance(target, pikepdf.Dictionary):
                    seg = ("/Next",) if i < 0 else ("/Next", f"[{i}]")
                    self.next_edges.setdefault(key, []).append(self._key(target, base_owner, (*base_path, *seg)))
        if "/OpenAction" in keys:
            target = d.get("/OpenAction")
            if isinstance(target, pikepdf.Dictionary):  # an array is a destination, not an action
                self._trigger(self._key(target, base_owner, (*base_path, "/OpenAction")), "/OpenAction", auto=True)
        if "/AA" in keys:
            self._additional_actions(d, keys, typ, subtype, base_owner, base_path)
        if "/EF" in keys:
            self._filespec_dict(container, key, objnum)
        if subtype == "FileAttachment" and "/FS" in keys:
            fs = d.get("/FS")
            if isinstance(fs, pikepdf.Dictionary):
                self._label_file(self._key(fs, base_owner, (*base_path, "/FS")), "FileAttachment annotation")
        if subtype == "RichMedia" or "/RichMediaContent" in keys or kind == "RichMediaExecute":
            self.rich_media = True
        if typ == "Catalog":
            self._catalog(d, base_owner, base_path)
        if "/XFA" in keys:
            self._xfa(d.get("/XFA"))

    def _action(self, d: Any, key: _Key, kind: str, objnum: int) -> None:
        if key in self.actions or len(self.actions) >= self.limits.max_items * 5:
            return
        rec = _ActionRec(kind=kind, obj=objnum, js=d.get("/JS"))
        if kind == "URI":
            uri = d.get("/URI")
            rec.target = _str(uri)
            rec.target_is_url = True
        elif kind == "Launch":
            win = d.get("/Win")
            import pikepdf

            if isinstance(win, pikepdf.Dictionary):
                rec.target = _str(win.get("/F"))
                rec.params = _str(win.get("/P"))
            if rec.target is None:
                for platform in ("/F", "/Unix", "/Mac"):
                    target, is_url = _filespec(d.get(platform))
                    if target:
                        rec.target, rec.target_is_url = target, is_url
                        break
        elif kind in ("SubmitForm", "GoToR", "GoToE", "ImportData"):
            rec.target, rec.target_is_url = _filespec(d.get("/F"))
        self.actions[key] = rec

    def _trigger(self, key: _Key, label: str, *, auto: bool) -> None:
        labels = self.triggers.setdefault(key, {})
        labels[label] = labels.get(label, False) or auto

    def _additional_actions(
        self,
        d: dict[str, Any],
        keys: Collection[str],
        typ: str | None,
        subtype: str | None,
        owner: tuple[int, int],
        path: tuple[str, ...],
    ) -> None:
        import pikepdf

        aa = d.get("/AA")
        if not isinstance(aa, pikepdf.Dictionary):
            return
        aa_owner, aa_path = self._base(aa, owner, (*path, "/AA"))
        is_field = "/FT" in keys or "/T" in keys or subtype == "Widget"
        who = (
            "document"
            if typ == "Catalog"
            else "page"
            if typ == "Page"
            else "form field"
            if is_field
            else "annotation"
            if subtype or typ == "Annot"
            else "object"
        )
        for event in sorted(aa.keys())[:64]:
            target = aa.get(event)
            if not isinstance(target, pikepdf.Dictionary):
                continue
            name = event[1:]
            auto = name in _AUTO_AA_KEYS and not (name == "C" and is_field)
            self._trigger(self._key(target, aa_owner, (*aa_path, event)), f"{who} /AA /{name}", auto=auto)

    def _filespec_dict(self, d: Any, key: _Key, objnum: int) -> None:
        import pikepdf

        ef = d.get("/EF")
        if not isinstance(ef, pikepdf.Dictionary) or key in self.filespecs:
            return
        streams: list[Any] = []
        seen: set[tuple[int, int]] = set()
        for entry in ("/UF", "/F", "/DOS", "/Unix", "/Mac"):
            stream = ef.get(entry)
            if isinstance(stream, pikepdf.Stream) and stream.objgen not in seen:
                seen.add(stream.objgen)
                streams.append(stream)
        name, _ = _filespec(d)
        self.filespecs[key] = _FileSpec(obj=objnum, name=name, streams=streams)

    def _label_file(self, key: _Key, label: str) -> None:
        self.file_labels.setdefault(key, {})[label] = None

    def _catalog(self, catalog: Any, owner: tuple[int, int], path: tuple[str, ...]) -> None:
        import pikepdf

        names = catalog.get("/Names")
        if not isinstance(names, pikepdf.Dictionary):
            return
        n_owner, n_path = self._base(names, owner, (*path, "/Names"))
        budget = [_MAX_NAME_TREE_ENTRIES]
        js_root = names.get("/JavaScript")
        if isinstance(js_root, pikepdf.Dictionary):
            o, p = self._base(js_root, n_owner, (*n_path, "/JavaScript"))
            for key in self._name_tree(js_root, o, p, 0, budget, set()):
                self._trigger(key, "document-level JavaScript (/Names)", auto=True)
        files_root = names.get("/EmbeddedFiles")
        if isinstance(files_root, pikepdf.Dictionary):
            o, p = self._base(files_root, n_owner, (*n_path, "/EmbeddedFiles"))
            for key in self._name_tree(files_root, o, p, 0, budget, set()):
                self._label_file(key, "/EmbeddedFiles")

    def _name_tree(
        self,
        node: Any,
        owner: tuple[int, int],
        path: tuple[str, ...],
        depth: int,
        budget: list[int],
        seen: set[tuple[int, int]],
    ) -> Iterator[_Key]:
        """Keys of the values in a name tree (/Names [k v ...] leaves, /Kids nodes), bounded and loop-safe."""
        import pikepdf

        if depth > self.limits.max_action_depth or budget[0] <= 0:
            return
        if node.is_indirect:
            if node.objgen in seen:
                return
            seen.add(node.objgen)
        leaves = node.get("/Names")
        if isinstance(leaves, pikepdf.Array):
            l_owner, l_path = self._base(leaves, owner, (*path, "/Names"))
            for i, value in enumerate(itertools.islice(leaves, 2 * _MAX_NAME_TREE_ENTRIES)):
                if budget[0] <= 0:
                    return
                self._tick()
                if i % 2 == 1 and isinstance(value, pikepdf.Dictionary):
                    budget[0] -= 1
                    yield self._key(value, l_owner, (*l_path, f"[{i}]"))
        kids = node.get("/Kids")
        if isinstance(kids, pikepdf.Array):
            k_owner, k_path = self._base(kids, owner, (*path, "/Kids"))
            for i, kid in enumerate(itertools.islice(kids, _MAX_NAME_TREE_ENTRIES)):
                if budget[0] <= 0:
                    return
                if isinstance(kid, pikepdf.Dictionary):
                    o, p = self._base(kid, k_owner, (*k_path, f"[{i}]"))
                    yield from self._name_tree(kid, o, p, depth + 1, budget, seen)

    def _xfa(self, xfa: Any) -> None:
        import pikepdf

        self.xfa = True
        parts = list(itertools.islice(xfa, _MAX_ARRAY_ITEMS)) if isinstance(xfa, pikepdf.Array) else [xfa]
        for part in parts:
            if isinstance(part, pikepdf.Stream) and len(self.xfa_streams) < self.limits.max_items:
                self.xfa_streams.append(part)

    # -- results ---------------------------------------------------------------------------------------------
    def resolved_triggers(self) -> dict[_Key, dict[str, bool]]:
        """Triggers carried along /Next chains (an action's successors fire with it), loop-safe and bounded."""
        out: dict[_Key, dict[str, bool]] = {k: dict(v) for k, v in self.triggers.items()}
        for start, labels in self.triggers.items():
            frontier = [start]
            seen = {start}
            for _ in range(self.limits.max_action_depth):
                nxt: list[_Key] = []
                for key in frontier:
                    for succ in self.next_edges.get(key, ()):
                        if succ not in seen:
                            seen.add(succ)
                            nxt.append(succ)
                            merged = out.setdefault(succ, {})
                            for label, auto in labels.items():
                                merged[f"{label} → /Next"] = merged.get(f"{label} → /Next", False) or auto
                if not nxt:
                    break
                self.ctx.check_deadline()
                frontier = nxt
        return out


def _script_text(value: Any, cap: int, ctx: PluginContext) -> tuple[str, bool, int] | None:
    """(text, truncated, object number of a stream or 0) of a /JS value."""
    import pikepdf

    if isinstance(value, pikepdf.String):
        raw = bytes(value)
        return pdf_text(raw[:cap]), len(raw) > cap, 0
    if isinstance(value, pikepdf.Stream):
        decoded = decode_stream(value, cap, ctx, head=True)
        return pdf_text(decoded.data), not decoded.complete, value.objgen[0]
    return None


def _facts_from_walk(walker: _Walker, ctx: PluginContext, limits: PdfLimits) -> dict[str, Any]:
    triggers = walker.resolved_triggers()
    actions: list[Action] = []
    scripts: list[Script] = []
    seen_scripts: set[str] = set()
    uris: dict[str, None] = {}
    for key, rec in walker.actions.items():
        ctx.check_deadline()
        labels = triggers.get(key, {})
        auto = any(labels.values())
        if len(actions) < limits.max_items:
            actions.append(
                Action(
                    kind=rec.kind,
                    obj=rec.obj,
                    triggers=tuple(labels),
                    auto=auto,
                    target=rec.target,
                    params=rec.params,
                    target_is_url=rec.target_is_url,
                )
            )
        if rec.target and rec.target_is_url and len(uris) < limits.max_items:
            uris.setdefault(rec.target.strip(), None)
        if rec.js is not None and len(scripts) < limits.max_items:
            got = _script_text(rec.js, limits.max_script_bytes, ctx)
            if got is not None and got[0].strip() and got[0] not in seen_scripts:
                seen_scripts.add(got[0])
                documents = any(lbl.startswith("document-level") for lbl in labels)
                context = "document-level JavaScript (/Names)" if documents else f"{rec.kind} action"
                scripts.append(
                    Script(
                        obj=got[2] or rec.obj,
                        context=context,
                        auto=auto,
                        triggers=tuple(labels),
                        text=got[0],
                        truncated=got[1],
                    )
                )
    for stream in walker.xfa_streams:
        ctx.check_deadline()
        decoded = decode_stream(stream, limits.max_decoded_stream, ctx, head=True)
        found = [m.group(1) for m in _XFA_SCRIPT_RE.finditer(decoded.data)][: limits.max_items]
        text = "\n".join(pdf_text(s) for s in found if s.strip())[: limits.max_script_bytes]
        if text and text not in seen_scripts and len(scripts) < limits.max_items:
            seen_scripts.add(text)
            # XFA scripts run on form events, initialize among them: the form opening runs them.
            scripts.append(Script(obj=stream.objgen[0], context="XFA form", auto=True, triggers=(), text=text))
    return {"actions": tuple(actions), "scripts": tuple(scripts), "uris": tuple(uris)}


def _embedded(walker: _Walker, ctx: PluginContext, limits: PdfLimits, head: int) -> list[EmbeddedFile]:
    import pikepdf

    out: list[EmbeddedFile] = []
    done: set[tuple[int, int]] = set()

    def add(stream: Any, name: str | None, contexts: tuple[str, ...]) -> None:
        if stream.objgen in done or len(out) >= limits.max_items:
            return
        done.add(stream.objgen)
        ctx.check_deadline()
        sd = stream.stream_dict
        params = sd.get("/Params")
        size: int | None = None
        if isinstance(params, pikepdf.Dictionary):
            value = params.get("/Size")
            if isinstance(value, int) and not isinstance(value, bool):
                size = value
        out.append(
            EmbeddedFile(
                obj=stream.objgen[0],
                gen=stream.objgen[1],
                name=name,
                contexts=contexts,
                declared_size=size,
                subtype=_name(sd.get("/Subtype")),
                head=decode_stream(stream, head, ctx, head=True).data if head else b"",
            )
        )

    for key, spec in walker.filespecs.items():
        labels = tuple(walker.file_labels.get(key, {})) or ("file spec",)
        for stream in spec.streams:
            add(stream, spec.name, labels)
    for stream in walker.embedded_streams.values():
        add(stream, None, ("unreferenced",))
    return out


def _fallback_streams(data: bytes, ctx: PluginContext, limits: PdfLimits, counter: _TokenCounter) -> int:
    """Token-scan what every `stream ... endstream` inflates to; the number that would not inflate."""
    failed = 0
    pos = 0
    budget = limits.max_decoded_stream * 4
    for _ in range(_MAX_FALLBACK_STREAMS):
        ctx.check_deadline()
        match = _STREAM_RE.search(data, pos)
        if match is None:
            break
        end = data.find(b"endstream", match.end())
        body = data[match.end() : end if end >= 0 else len(data)]
        pos = match.end() if end < 0 else end + 9
        if budget <= 0:
            break
        out, _, error = _inflate(body, min(limits.max_decoded_stream, budget), ctx.check_deadline)
        budget -= len(out)
        if error is not None and not out:
            failed += 1
        counter.scan(out, ctx)
        if end < 0:
            break
    return failed


class PdfDocument:
    """An open document and what the walk found in it; embedded files are decoded on demand (`decode`).

    Made by `open_document`, valid inside its `with` block only.
    """

    def __init__(self, pdf: pikepdf.Pdf | None, facts: PdfFacts, ctx: PluginContext) -> None:
        self._pdf = pdf
        self.facts = facts
        self._ctx = ctx

    def decode(self, item: EmbeddedFile, cap: Callable[[int], int]) -> Decoded:
        """An embedded file's content; `cap(encoded size)` gives the output cap."""
        import pikepdf

        if self._pdf is None:
            return Decoded(b"", problem="document not open")
        try:
            stream = self._pdf.get_object((item.obj, item.gen))
        except DeadlineExceeded:
            raise
        except Exception as exc:  # qpdf on a damaged object
            return Decoded(b"", problem=f"corrupt stream: {_short(exc)}")
        if not isinstance(stream, pikepdf.Stream):
            return Decoded(b"", problem="not a stream")
        return decode_stream(stream, cap, self._ctx)


@contextlib.contextmanager
def open_document(
    data: bytes, ctx: PluginContext, limits: PdfLimits, *, tokens: bool = True, file_head: int = 0
) -> Iterator[PdfDocument]:
    """Open (trying the message's passwords), walk and token-scan one PDF.

    `tokens=False` skips the raw-token scan (the unpacker does not need it); `file_head` bytes of each embedded file
    are decoded into `EmbeddedFile.head`. Raises only DeadlineExceeded.
    """
    import pikepdf

    _apply_qpdf_limits(limits)
    counter = _TokenCounter()
    if tokens:
        counter.scan(data, ctx)
    limit_errors = pikepdf.settings.qpdf_limit_errors()
    pdf, encryption, error = open_pdf(data, ctx)
    if pdf is None:
        failed = _fallback_streams(data, ctx, limits, counter) if error is not None and tokens else 0
        facts = PdfFacts(
            parsed=False, error=error, encryption=encryption, tokens=counter.result(), unreadable_streams=failed
        )
        yield PdfDocument(None, facts, ctx)
        return
    try:
        walker = _Walker(pdf, ctx, limits, counter if tokens else _TokenCounter())
        walker.sweep()
        found = _facts_from_walk(walker, ctx, limits)
        embedded = _embedded(walker, ctx, limits, file_head)
        warnings = tuple(_short(w)[:200] for w in pdf.get_warnings()[:50])
        facts = PdfFacts(
            parsed=True,
            encryption=encryption,
            repaired=any("reconstruct" in w or "damaged" in w for w in warnings),
            warnings=warnings,
            objects=walker.visited,
            objects_skipped=walker.skipped,
            damaged_objects=walker.damaged,
            qpdf_limit_hits=pikepdf.settings.qpdf_limit_errors() - limit_errors,
            xfa=walker.xfa,
            rich_media=walker.rich_media,
            tokens=counter.result(),
            reached=dict(walker.reached),
            embedded=tuple(embedded),
            **found,
        )
        yield PdfDocument(pdf, facts, ctx)
    finally:
        pdf.close()


def scan_pdf(data: bytes, ctx: PluginContext, limits: PdfLimits, *, file_head: int = 0) -> PdfFacts:
    """What `open_document` finds, the document closed again."""
    with open_document(data, ctx, limits, file_head=file_head) as doc:
        return doc.facts

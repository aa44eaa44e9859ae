"""Parsing an RFC 5322 message into the facts the analyzers need: decoded headers, bodies, MIME parts, defects.

Which library does what, and why:

- The stdlib `email` package (`BytesParser`, `policy=compat32`) builds the MIME tree. compat32 keeps payloads
  byte-exact (8-bit bytes survive as surrogate escapes, nothing is re-encoded), records per-part defects instead
  of raising, and is the fastest of the stdlib policies. `policy.default` would reinterpret headers on access,
  which is slower and can raise on hostile values.
- Received headers are split into from/by/with/for/date by `received.py`, which follows mail-parser's clause
  grammar (its tokenizer copes with the many MTA dialects) and gives the same fields, tested against it. It is
  ours because mail-parser's `receiveds_parsing` walks each header one character at a time in Python, scans it
  again for surrogates and parses every date into a datetime we do not use: a quarter of `Engine.scan`'s time
  over the phishing corpus. The compiled-pattern scanner does the same split about six times faster.
  mail-parser itself (`mailparser.utils.parse_received`) still takes the headers with several top-level ';',
  whose recovery is its own.
- Everything else is ours: charset handling (`charsets.py`), transfer decoding that forgives bad base64,
  file-name decoding for what Japanese mailers really send, a linear HTML-to-text tokenizer, and the caps.

Throughput: `bench/scan_corpus.py` compares `Engine.scan` with the bare stdlib parse. What this module adds to
that parse is kept to work per header, part and tag, not per character, with fast paths that give what the
general code gives: plain ASCII header values are taken as they are, the ~60 encoded-words of Microsoft's
antispam headers are decoded as one run, one plain address skips `getaddresses`, and HTML is reduced by one
compiled pattern.

Hostile input: every call into the stdlib that can raise on odd values is guarded, header values, parts, bodies
and defects are capped, and parameter headers are trimmed before the stdlib parses them (its parameter splitter
is quadratic in the number of `;` inside quotes). A message nested deeper than the parser's recursion limit is
kept as one unparsed body with a defect saying so.
"""

from __future__ import annotations

import binascii
import email.utils
import html as html_lib
import io
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email import errors as email_errors
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any

from triage.ingest.charsets import (
    decode_base64_lenient,
    decode_bytes,
    decode_header_value,
    decode_header_with_charsets,
    has_surrogates,
    to_bytes,
)
from triage.ingest.received import parse_received
from triage.model import Authentication, Hop, MessageInfo

if TYPE_CHECKING:
    from triage.ingest.forward import Forwarded

__all__ = [
    "MAX_PARTS",
    "MimePart",
    "ParsedEmail",
    "address_list",
    "html_to_text",
    "parse_email",
    "parse_message_object",
    "split_address",
]

MAX_PARTS = 5000
MAX_HEADERS = 500
MAX_HEADER_VALUE = 8 * 1024
MAX_TEXT = 1024 * 1024
MAX_DEFECTS = 100
MAX_NESTED = 6  # message/rfc822 levels parsed eagerly; deeper ones are parsed by the MIME unpacker on demand
MAX_RECEIVED = 100
MAX_ADDRESSES = 100
MAX_NAME = 1024
_MAX_CHARSETS = 32
# Long base64 runs are set aside while the feedparser runs (`_set_aside`), in any message that can hold one: a
# 780 KB ISO attachment cost 40 ms of feedparser lines, 10 with its run set aside (89 corpus and sample messages
# over 64 KiB give the same reports either way)
_ASIDE_ABOVE = 64 * 1024
_ASIDE_RUN = 64 * 1024
_ASIDE_PREFIX = "\x00triage-aside-"
_ASIDE_MARK = re.compile(re.escape(_ASIDE_PREFIX) + r"(\d+)\x00(\n?)")  # the parser drops a part's last newline
_ASIDE_MARK_BYTES = re.compile(_ASIDE_MARK.pattern.encode())
# a run starts after a newline (the literal first character makes the search skip from line to line), possessive
# so a short run is never re-tried from each of its lines
_BASE64_RUN = re.compile(rb"\n((?:[A-Za-z0-9+/]{40,100}={0,2}\r?\n)++)")
_FEED_SLICE = 16 * 1024  # bytes fed to the parser between deadline checks (at worst 16k empty lines, ~40 ms)
_PARAM_HEADER_CAP = 8 * 1024
_PARAM_MAX_SEMICOLONS = 64
_TEXT_BYTES = 4 * MAX_TEXT  # bytes of one body decoded at most: enough for MAX_TEXT characters of UTF-8
_NESTED_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})


@dataclass(frozen=True)
class MimePart:
    """One leaf of the MIME tree (or one message/rfc822 part), its transfer encoding removed."""

    path: str  # IMAP-style: "1", "2.1"
    content_type: str
    filename: str | None
    disposition: str | None
    charset: str | None  # as declared, lower-case
    payload: bytes
    is_body: bool
    message: ParsedEmail | None = None  # the nested message of a message/rfc822 part
    charset_used: str | None = None  # what the body actually decoded with
    container: str | None = None  # content type of the enclosing multipart; None for a single-part message


# eq=False: the engine tells messages apart by identity, and comparing megabytes of payload is never wanted.
@dataclass(frozen=True, eq=False)
class ParsedEmail:
    """Everything the analyzers read about one message. Built by `parse_email`; other front ends (.msg) may
    build one directly and leave `original` to `forward.detect_original`."""

    info: MessageInfo
    headers: tuple[tuple[str, str], ...] = ()
    text: str = ""
    html: str = ""
    html_text: str = ""
    defects: tuple[str, ...] = ()
    parts: tuple[MimePart, ...] = ()
    charsets: tuple[str, ...] = ()
    x_mailer: str | None = None
    original: Forwarded | None = None  # set when this message forwards another one (see forward.py)
    cut_short: bool = False  # parsing stopped at the deadline: what follows the bytes read is missing


# -- entry points ------------------------------------------------------------------------------------------------


def parse_email(raw: bytes, *, deadline: float | None = None) -> ParsedEmail:
    """Parse raw message bytes. Never raises on hostile input. With a `deadline` (a time.monotonic() value) the
    parse stops there, keeps what it read, and sets `cut_short`."""
    return _parse_bytes(bytes(raw), 0, deadline)


def parse_message_object(msg: Message) -> ParsedEmail:
    """Build a ParsedEmail from a message the stdlib already parsed (any policy)."""
    return _safe_build(msg, 0, [])


class HeaderTrimmedDefect(email_errors.MessageDefect):
    """A Content-Type or Content-Disposition header was cut before parameter parsing."""


class _SafeMessage(Message):
    """compat32's Message, except parameter headers are trimmed as they are stored.

    The feedparser reads `boundary` through `get_param` while it parses, so the trim has to happen here, before
    `_parseparam` sees a megabyte of quoted semicolons.
    """

    _headers: list[tuple[str, Any]]  # Message's header store (set by Message.__init__); declared for mypy
    aside: tuple[str, ...] = ()  # base64 runs `_set_aside` took out of the bytes fed to the parser

    def set_raw(self, name: str, value: Any) -> None:
        # called for every header line of every part: the cheap test that the value could need a trim comes first
        if (
            isinstance(value, str)
            and (len(value) > _PARAM_HEADER_CAP or value.count(";") >= _PARAM_MAX_SEMICOLONS)
            and name.lower() in ("content-type", "content-disposition")
        ):
            capped = _cap_params(value)
            if capped != value:
                self.defects.append(HeaderTrimmedDefect(f"{name} trimmed before parameter parsing"))
                value = capped
        self._headers.append((name, value))  # Message.set_raw's body: the extra call was 8% of the parse


def _set_aside(raw: bytes) -> tuple[bytes, tuple[str, ...]]:
    """`raw` with every long run of base64 lines replaced by one marker line, and the runs, which `_payload` and
    `_flatten` put back. The feedparser handles each line in Python (~8 µs for a base64 line) and searches whole
    payloads again after it: a 70 MiB attachment took 15 s and 1.1 GB. A run cannot hold a boundary or a header
    ('-' and ':' are not base64), so the parse is the same; each run goes back into its part exactly as it was."""
    if len(raw) < _ASIDE_ABOVE or _ASIDE_PREFIX.encode() in raw:
        return raw, ()
    pieces: list[bytes] = []
    runs: list[str] = []
    end = 0
    for m in _BASE64_RUN.finditer(raw):
        if m.end(1) - m.start(1) >= _ASIDE_RUN:
            pieces += (raw[end : m.start(1)], b"%s%d\x00\n" % (_ASIDE_PREFIX.encode(), len(runs)))
            runs.append(raw[m.start(1) : m.end(1)].decode("ascii"))
            end = m.end(1)
    if not runs:
        return raw, ()
    pieces.append(raw[end:])
    return b"".join(pieces), tuple(runs)


def _factory(aside: tuple[str, ...]) -> Any:
    def make(policy: Any = compat32) -> _SafeMessage:
        msg = _SafeMessage(policy)
        msg.aside = aside
        return msg

    return make


def _cap_params(value: str) -> str:
    value = value[:_PARAM_HEADER_CAP]
    pos = -1
    for _ in range(_PARAM_MAX_SEMICOLONS):
        pos = value.find(";", pos + 1)
        if pos < 0:
            return value
    return value[:pos]


def _parse_bytes(raw: bytes, depth: int, deadline: float | None = None) -> ParsedEmail:
    extra: list[str] = []
    msg: Message
    stopped = False
    try:
        # What BytesParser.parsebytes does, in slices, so a deadline can stop it: the feedparser costs ~2 µs a
        # line, and 100 MB of empty lines would otherwise hold the scan for minutes (adversarial corpus)
        fed, aside = _set_aside(raw)
        parser = BytesFeedParser(_factory(aside) if aside else _SafeMessage, policy=compat32)
        for start in range(0, len(fed), _FEED_SLICE):
            parser.feed(fed[start : start + _FEED_SLICE])  # the first slice always: the headers, as a rule
            if deadline is not None and start + _FEED_SLICE < len(fed) and time.monotonic() >= deadline:
                stopped = True
                done = start + _FEED_SLICE
                extra.append(f"root: parsing stopped at the deadline after {done} of {len(fed)} bytes parsed")
                break
        del fed
        msg = parser.close()
    except RecursionError:
        extra.append("root: MIME nesting too deep for the parser; body kept unparsed")
        msg = _headers_only(raw)
    except Exception as exc:  # the stdlib parser is not supposed to raise; keep going if it does
        extra.append(f"root: parser failed ({type(exc).__name__}); body kept unparsed")
        msg = _headers_only(raw)
    parsed = _safe_build(msg, depth, extra, deadline)
    return replace(parsed, cut_short=True) if stopped else parsed


def _headers_only(raw: bytes) -> Message:
    try:
        return BytesHeaderParser(_SafeMessage, policy=compat32).parsebytes(raw)
    except Exception:
        msg = Message()
        msg.set_payload(raw.decode("ascii", errors="surrogateescape"))
        return msg


def _safe_build(msg: Message, depth: int, extra: list[str], deadline: float | None = None) -> ParsedEmail:
    try:
        return _build(msg, depth, extra, deadline)
    except RecursionError:
        return ParsedEmail(info=MessageInfo(), defects=(*extra, "root: message too deeply nested"))
    except Exception as exc:  # parsing hostile mail must not stop the scan
        return ParsedEmail(info=MessageInfo(), defects=(*extra, f"root: could not be parsed ({type(exc).__name__})"))


# -- the message -------------------------------------------------------------------------------------------------


def _raw_items(msg: Message) -> list[tuple[str, str]]:
    """Header pairs as stored: raw_items skips compat32's fetch step, which turns 8-bit values into Header
    objects and replaces their bytes with U+FFFD."""
    try:
        items = list(msg.raw_items())
    except Exception:
        return []
    return [(str(name), value if isinstance(value, str) else str(value)) for name, value in items]


_PART_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_PartHeaders = dict[int, dict[str, str]]  # id(part) → its _PART_HEADERS: read once per part and build


def _part_headers(part: Message, cache: _PartHeaders) -> dict[str, str]:
    """The first raw value of each of a part's MIME headers (`_PART_HEADERS`), as `_raw_items` has them."""
    found = cache.get(id(part))
    if found is None:
        found = {}
        try:
            items = list(part.raw_items())
        except Exception:
            items = []
        for name, value in items:
            key = str(name).strip().lower()
            if key in _PART_HEADERS and key not in found:
                found[key] = value if isinstance(value, str) else str(value)
        cache[id(part)] = found
    return found


def _build(msg: Message, depth: int, extra: list[str], deadline: float | None = None) -> ParsedEmail:
    raw_headers = _raw_items(msg)
    by_name: dict[str, list[str]] = {}
    for name, value in raw_headers:
        by_name.setdefault(name.strip().lower(), []).append(value)

    defects: list[str] = list(extra)
    charsets: list[str] = []
    headers: list[tuple[str, str]] = []
    part_headers: _PartHeaders = {id(msg): {key: by_name[key][0] for key in _PART_HEADERS if key in by_name}}
    hint = _charset_hint(msg, part_headers)
    for name, value in raw_headers[:MAX_HEADERS]:
        decoded, declared = decode_header_with_charsets(value, hint)
        headers.append((name.strip()[:256], decoded.strip(" \t")[:MAX_HEADER_VALUE]))
        if declared:
            _add_charsets(charsets, declared)
    if len(raw_headers) > MAX_HEADERS:
        defects.append(f"root: too many headers ({len(raw_headers)}, kept {MAX_HEADERS})")

    walk = _Walk(depth, hint, part_headers, deadline)
    walk.run(msg)
    defects.extend(walk.defects)
    _add_charsets(charsets, walk.charsets)

    text = "\n".join(walk.texts)[:MAX_TEXT]
    html = "\n".join(walk.htmls)[:MAX_TEXT]
    parsed = ParsedEmail(
        info=_message_info(by_name, hint),
        headers=tuple(headers),
        text=text,
        html=html,
        html_text=html_to_text(html) if html else "",
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        parts=tuple(walk.parts),
        charsets=tuple(charsets),
        x_mailer=_x_mailer(by_name, hint),
    )
    if depth < MAX_NESTED:
        # forward.py parses attached originals with parse_email, so the two modules need each other
        from triage.ingest.forward import detect_original

        original = detect_original(parsed, lambda data: _parse_bytes(data, depth + 1, deadline))
        if original is not None:
            parsed = replace(parsed, original=original)
    return parsed


def _add_charsets(seen: list[str], labels: Iterable[str]) -> None:
    for label in labels:
        label = label.strip().strip("\"'").lower()[:64]
        if label and label not in seen and len(seen) < _MAX_CHARSETS:
            seen.append(label)


def _first(by_name: dict[str, list[str]], name: str) -> str | None:
    values = by_name.get(name)
    return values[0] if values else None


def _header_text(value: str | None, cap: int = MAX_HEADER_VALUE, hint: str | None = None) -> str | None:
    if value is None:
        return None
    text = decode_header_value(value, hint).strip(" \t")[:cap]
    return text or None


def _x_mailer(by_name: dict[str, list[str]], hint: str | None) -> str | None:
    return _header_text(_first(by_name, "x-mailer") or _first(by_name, "user-agent"), 512, hint)


_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_MAILTO = re.compile(r"\[\s*mailto:([^\]]*)\]", re.IGNORECASE)


def split_address(value: str | None, hint: str | None = None) -> tuple[str | None, str | None]:
    """One mailbox header value (raw or decoded) → (address lower-cased, decoded display name). `hint` is the
    charset for raw 8-bit bytes.

    The address in angle brackets is the one mail goes to, whatever the display part says: for
    `support@bank.example <x@evil.example>` (unquoted, invalid, sent anyway) the address is x@evil.example.
    """
    if value is None:
        return None, None
    raw = _MAILTO.sub(r"<\1>", value[:MAX_HEADER_VALUE].replace("\r", " ").replace("\n", " "))
    found = _angle_split(raw)
    if found is None and "=?" in raw:
        found = _angle_split(decode_header_value(raw, hint))  # an encoded-word hiding "Name <address>"
    if found is not None:
        address, display = found
        address = decode_header_value(address, hint).strip().lower()[:_MAX_ADDRESS]
        return address or None, _display(display, hint)
    pairs = _addresses(raw, limit=1, hint=hint)
    return pairs[0] if pairs else (None, None)


_ANGLE_ADDR = re.compile(r"<\s*([^<>\s]*@[^<>\s]*)\s*>")
_MAX_ADDRESS = 320


def _mask_quoted(text: str) -> str:
    """Quoted strings blanked out (same length), in one linear pass: a regex for them backtracks on '"\\"\\…'."""
    if '"' not in text:
        return text
    out = list(text)
    quoted = escaped = False
    for i, ch in enumerate(text):
        if quoted:
            out[i] = " "
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            out[i] = " "
    return "".join(out)


def _angle_split(text: str) -> tuple[str, str] | None:
    # quoted display names may themselves hold "<address>": look for the angle-addr outside quotes only
    m = _ANGLE_ADDR.search(_mask_quoted(text))
    if m is None:
        return None
    return text[m.start(1) : m.end(1)], text[: m.start()]


_QUOTED_PAIR = re.compile(r"\\(.)")


def _display(raw: str, hint: str | None) -> str | None:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = _QUOTED_PAIR.sub(r"\1", text[1:-1])
    text = decode_header_value(text, hint).strip()
    return text or None


# One address and nothing else, bare or in angle brackets, in characters that getaddresses passes through as they
# are, leading, trailing and doubled dots included (tests/ingest/test_eml.py checks this against getaddresses).
_SIMPLE_ADDRESS = re.compile(
    r"[ \t]*(?:([A-Za-z0-9._+=-]+@[A-Za-z0-9._+=-]+)|<([A-Za-z0-9._+=-]+@[A-Za-z0-9._+=-]+)>)[ \t]*"
)


def _addresses(
    value: str | None, limit: int = MAX_ADDRESSES, hint: str | None = None
) -> list[tuple[str | None, str | None]]:
    if value is None:
        return []
    raw = _MAILTO.sub(r"<\1>", value[:MAX_HEADER_VALUE].replace("\r", " ").replace("\n", " "))
    simple = _SIMPLE_ADDRESS.fullmatch(raw)
    if simple is not None and limit > 0:
        # most To, Reply-To and Return-Path values: one plain address, what getaddresses would return as it is
        return [((simple.group(1) or simple.group(2)).lower()[:_MAX_ADDRESS], None)]
    out: list[tuple[str | None, str | None]] = []
    try:
        pairs = email.utils.getaddresses([raw])
    except Exception:  # hostile syntax; fall back to pattern matching below
        pairs = []
    for name, addr in pairs:
        if len(out) >= limit:
            break
        address = decode_header_value(addr, hint).strip().lower()[:_MAX_ADDRESS] if addr else ""
        display = decode_header_value(name, hint).strip() if name else ""
        if "@" not in address and "=?" in raw:
            # an encoded-word hiding the address: decode first, then look for one
            continue
        if address or display:
            out.append((address or None, display or None))
    if not any(a and "@" in a for a, _ in out):
        decoded = decode_header_value(raw, hint)
        found = _ADDRESS.findall(decoded)[:limit]
        if found:
            display = decoded.split("<", 1)[0].strip().strip('"').strip() if "<" in decoded else ""
            out = [(found[0].lower()[:_MAX_ADDRESS], display or None)]
            out += [(f.lower()[:_MAX_ADDRESS], None) for f in found[1:]]
    return out


def address_list(values: Iterable[str] | None, hint: str | None = None) -> tuple[str, ...]:
    """Address-list header values (raw or decoded) → the addresses, lower-cased, de-duplicated, capped."""
    out: list[str] = []
    for value in values or ():
        for address, _ in _addresses(value, hint=hint):
            if address and address not in out and len(out) < MAX_ADDRESSES:
                out.append(address)
    return tuple(out)


_AUTH_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([A-Za-z]+)", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


def _authentication(by_name: dict[str, list[str]]) -> Authentication:
    found: dict[str, str] = {}
    top = _first(by_name, "authentication-results")
    if top is not None:
        for m in _AUTH_RESULT.finditer(decode_header_value(top)[:MAX_HEADER_VALUE]):
            found.setdefault(m.group(1).lower(), m.group(2).lower())
    if "spf" not in found:
        received_spf = _first(by_name, "received-spf")
        if received_spf is not None:
            word = _FIRST_WORD.match(decode_header_value(received_spf)[:256])
            if word:
                found["spf"] = word.group(1).lower()
    return Authentication(spf=found.get("spf"), dkim=found.get("dkim"), dmarc=found.get("dmarc"))


def _received(values: list[str] | None) -> tuple[Hop, ...]:
    """Received headers as hops, the bottom one (nearest the sender) first."""
    # the top headers are the ones our side added; a sender padding the bottom with fakes loses the extras
    raws = [" ".join(decode_header_value(v).split())[:4096] for v in (values or ())[:MAX_RECEIVED]]
    hops: list[Hop] = []
    for raw in reversed(raws):
        try:
            fields = parse_received(raw)
        except Exception:  # hostile text; the raw hop is still useful
            fields = None
        if not fields:
            hops.append(Hop(raw=raw))
            continue
        hops.append(
            Hop(
                raw=raw,
                from_=_field(fields, "from"),
                by=_field(fields, "by"),
                with_=_field(fields, "with"),
                date=_field(fields, "date"),
                for_=_field(fields, "for"),
            )
        )
    return tuple(hops)


def _field(fields: dict[str, str], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    text = value.strip()[:1024]
    return text or None


def _message_info(by_name: dict[str, list[str]], hint: str | None) -> MessageInfo:
    from_addr, from_display = split_address(_first(by_name, "from"), hint)
    return_path, _ = split_address(_first(by_name, "return-path"))
    sender, _ = split_address(_first(by_name, "sender"), hint)
    return MessageInfo(
        from_=from_addr,
        from_display=from_display,
        reply_to=address_list(by_name.get("reply-to", [])[:1], hint),
        return_path=return_path,
        sender=sender,
        to=address_list(by_name.get("to"), hint),
        subject=_header_text(_first(by_name, "subject"), hint=hint),
        date=_header_text(_first(by_name, "date"), 256),
        message_id=_header_text(_first(by_name, "message-id"), 1024),
        received=_received(by_name.get("received")),
        authentication=_authentication(by_name),
    )


# -- the MIME walk -----------------------------------------------------------------------------------------------


class _Walk:
    """One pass over a message's MIME tree, iterative (no recursion for hostile nesting), leaves in order."""

    def __init__(self, depth: int, hint: str | None, part_headers: _PartHeaders, deadline: float | None) -> None:
        self.depth = depth
        self.deadline = deadline
        self.hint = hint
        self.part_headers = part_headers
        self.parts: list[MimePart] = []
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.defects: list[str] = []
        self.charsets: list[str] = []
        self._text_size = 0
        self._html_size = 0

    def run(self, root: Message) -> None:
        stack: list[tuple[Message, str, str | None]] = [(root, "", None)]
        visited = 0
        while stack:
            part, path, container = stack.pop()
            visited += 1
            label = path or "root"
            self._defects(part, label)
            ctype = _content_type(part)
            payload = _payload(part)
            if isinstance(payload, list) and ctype not in _NESTED_TYPES and ctype.startswith("multipart/"):
                children = [p for p in payload if isinstance(p, Message)]
                prefix = f"{path}." if path else ""
                stack.extend((child, f"{prefix}{i}", ctype) for i, child in reversed(list(enumerate(children, 1))))
                continue
            if len(self.parts) >= MAX_PARTS or visited > 4 * MAX_PARTS:
                self.defects.append(f"root: too many parts (capped at {MAX_PARTS})")
                break
            if ctype.startswith("multipart/"):
                # its boundary never appeared: mail clients show such a body as text, and so do we
                self.defects.append(f"{label}: multipart without parts, read as text/plain")
                ctype = "text/plain"
            self._leaf(part, path or "1", ctype, payload, container)

    def _defects(self, part: Message, label: str) -> None:
        for defect in getattr(part, "defects", None) or ():
            if len(self.defects) >= MAX_DEFECTS * 2:
                return
            self.defects.append(f"{label}: {type(defect).__name__}")

    def _leaf(self, part: Message, path: str, ctype: str, payload: object, container: str | None) -> None:
        mime_headers = _part_headers(part, self.part_headers)
        ct_raw = mime_headers.get("content-type")
        cd_raw = mime_headers.get("content-disposition")
        cte = _cte(mime_headers.get("content-transfer-encoding"))
        disposition = _disposition(cd_raw)
        ct_params = _params(ct_raw, "content-type")
        charset = _param(ct_params, "charset", None)
        charset = charset.strip().lower()[:64] or None if charset else None
        if charset:
            self.charsets.append(charset)
        filename = _param(_params(cd_raw, "content-disposition"), "filename", self.hint) or _param(
            ct_params, "name", self.hint
        )
        filename = filename[:MAX_NAME] if filename else None

        if ctype in _NESTED_TYPES and isinstance(payload, list):
            self._nested(path, ctype, filename, disposition, charset, payload, cte, container)
            return

        raw = _raw_payload(payload, part, path, self.defects)
        data, problem = _decode_transfer(raw, cte)
        if problem:
            self.defects.append(f"{path}: {problem}")
        is_body = ctype in _BODY_TYPES and disposition != "attachment" and filename is None
        charset_used: str | None = None
        if is_body:
            text, charset_used = decode_bytes(_text_slice(data), charset)
            if ctype == "text/plain":
                if self._text_size < MAX_TEXT:
                    self.texts.append(text)
                    self._text_size += len(text)
            elif self._html_size < MAX_TEXT:
                self.htmls.append(text)
                self._html_size += len(text)
        self.parts.append(
            MimePart(
                path=path,
                content_type=ctype,
                filename=filename,
                disposition=disposition,
                charset=charset,
                payload=data,
                is_body=is_body,
                charset_used=charset_used,
                container=container,
            )
        )

    def _nested(
        self,
        path: str,
        ctype: str,
        filename: str | None,
        disposition: str | None,
        charset: str | None,
        payload: list[Any],
        cte: str,
        container: str | None,
    ) -> None:
        sub = next((p for p in payload if isinstance(p, Message)), None)
        data = b""
        nested: ParsedEmail | None = None
        if sub is not None:
            data = _flatten(sub, path, self.defects)
            if cte in ("base64", "quoted-printable"):
                # not allowed by RFC 2046, but sent: the parser read the encoded text as a message; undo that
                data, _ = _decode_transfer(data, cte)
                if self.depth < MAX_NESTED:
                    nested = _parse_bytes(data, self.depth + 1, self.deadline)
            elif self.depth < MAX_NESTED:
                nested = _safe_build(sub, self.depth + 1, [])
        self.parts.append(
            MimePart(
                path=path,
                content_type=ctype,
                filename=filename,
                disposition=disposition,
                charset=charset,
                payload=data,
                is_body=False,
                message=nested,
                container=container,
            )
        )


_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_.:+-]{1,40})""", re.IGNORECASE)
_NO_HINT = frozenset({"us-ascii", "ascii", "utf-8", "utf8"})


def _charset_hint(msg: Message, part_headers: _PartHeaders) -> str | None:
    """The charset a message's text parts declare: what raw 8-bit header bytes were most likely written in.

    UTF-8 and ASCII are no hint: detection tries UTF-8 first anyway, and a hint would stop it finding CP932.
    """
    stack = [msg]
    seen = 0
    while stack and seen < 100:
        part = stack.pop()
        seen += 1
        ct_raw = _part_headers(part, part_headers).get("content-type")
        if ct_raw:
            m = _CHARSET_PARAM.search(ct_raw[:_PARAM_HEADER_CAP])
            if m and m.group(1).lower() not in _NO_HINT:
                return m.group(1).lower()
        payload = _payload(part)
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return None


def _content_type(part: Message) -> str:
    try:
        return str(part.get_content_type()).strip().lower()[:128]
    except Exception:  # weird header objects
        return "application/octet-stream"


def _payload(part: Message) -> object:
    """The payload exactly as stored. Not get_payload(): without decode it re-decodes 8-bit bodies with the
    declared charset and errors="replace" (the bytes are lost), and with decode its base64 step hands back the
    encoded text when decoding fails. Transfer decoding is done here instead (`_decode_transfer`)."""
    payload = getattr(part, "_payload", None)
    aside: tuple[str, ...] = getattr(part, "aside", ())
    if aside and isinstance(payload, str) and _ASIDE_PREFIX in payload:
        return _ASIDE_MARK.sub(lambda m: _put_back(aside[int(m[1])], m[2]), payload)
    return payload


def _put_back(run: str, newline: str) -> str:
    """A run set aside, as the parser would have left it: without its last line break when it dropped the
    marker's (the line break before a boundary belongs to the boundary)."""
    if newline:
        return run
    return run[:-2] if run.endswith("\r\n") else run[:-1]


_CTE_END = re.compile(r"[\s;]+")


def _cte(raw: str | None) -> str:
    if not raw:
        return ""
    value = decode_header_value(raw[:256]).strip().lower()
    return _CTE_END.split(value, maxsplit=1)[0] if value else ""


def _disposition(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = decode_header_value(raw[:256]).split(";", 1)[0].strip().lower()[:64]
    return value or None


_Params = tuple[list[tuple[str, Any]], bool]  # (the stdlib's parameter list, whether 8-bit bytes were mapped)


def _params(raw: str | None, header: str) -> _Params | None:
    """A parameter header's parameters as `Message.get_param` reads them (RFC 2231 continuations joined), parsed
    once for every name `_param` looks up in it. None when no parameter has a value, or the syntax is beyond
    the stdlib (get_param would raise for every name)."""
    if raw is None or "=" not in raw:
        return None  # no parameter has a value: get_param would find "" at best, which is no value either
    value = _cap_params(raw)
    surrogates = has_surrogates(value)
    if surrogates:
        # 8-bit bytes become Latin-1 characters so the stdlib keeps them as text; mapped back in _param
        value = to_bytes(value).decode("latin-1")
    holder = Message()
    holder[header] = value
    try:
        # unquote=False: the list get_param searches; the value found is unquoted as get_param does, below
        items = holder.get_params(None, header=header, unquote=False)
    except Exception:  # malformed parameter syntax
        return None
    return (list(items), surrogates) if items else None


def _param(params: _Params | None, name: str, hint: str | None) -> str | None:
    """A header parameter decoded to text: RFC 2231 (any charset, continuations), RFC 2047 inside quotes
    (what Japanese mailers send), raw 8-bit bytes (detected). Control characters are kept exactly as sent."""
    if params is None:
        return None
    items, surrogates = params
    try:
        got = next((_unquote_param(value) for key, value in items if key.lower() == name), None)
        if got is None:
            return None
        if isinstance(got, tuple):
            label, _lang, encoded = got
            text = decode_bytes(to_bytes(_unquote(str(encoded))), str(label) if label else hint)[0]
            if "=?" in text:
                text = decode_header_value(text)
        else:
            text = str(got)
            if surrogates:
                text = to_bytes(text).decode("ascii", errors="surrogateescape")
            text = decode_header_value(text, hint)
    except Exception:
        return None
    text = text.strip(" \t")
    return text or None


def _unquote_param(value: Any) -> Any:
    """What get_param does to the value it found (email.message._unquotevalue)."""
    if isinstance(value, tuple):
        return value[0], value[1], email.utils.unquote(value[2])
    return email.utils.unquote(value)


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _raw_payload(payload: object, part: Message, path: str, defects: list[str]) -> bytes:
    if isinstance(payload, str):
        try:
            return payload.encode("ascii", errors="surrogateescape")
        except UnicodeEncodeError:  # a message built in memory with real text in it
            return payload.encode("utf-8", errors="surrogateescape")
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, list):
        # message/delivery-status and friends: header blocks; keep their text
        return b"\n".join(_flatten(p, path, defects) for p in payload if isinstance(p, Message))
    return b""


def _flatten(msg: Message, path: str, defects: list[str]) -> bytes:
    buf = io.BytesIO()
    try:
        BytesGenerator(buf, mangle_from_=False, policy=compat32).flatten(msg, unixfrom=False)
    except Exception as exc:  # regenerating a hostile tree can fail; keep what was written
        defects.append(f"{path}: could not regenerate the nested message ({type(exc).__name__})")
    aside: tuple[str, ...] = getattr(msg, "aside", ())
    out = buf.getvalue()
    if aside and _ASIDE_PREFIX.encode() in out:
        # the generator writes every line break as "\n": the runs put back get the same
        return _ASIDE_MARK_BYTES.sub(
            lambda m: _put_back(aside[int(m[1])], m[2].decode()).replace("\r\n", "\n").encode(), out
        )
    return out


def _decode_transfer(raw: bytes, cte: str) -> tuple[bytes, str | None]:
    """Remove the Content-Transfer-Encoding, forgivingly. Returns (bytes, a defect to record or None)."""
    if cte == "base64":
        return decode_base64_lenient(raw), None
    if cte == "quoted-printable":
        try:
            return binascii.a2b_qp(raw), None
        except (binascii.Error, ValueError):
            return raw, "undecodable quoted-printable"
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return _uudecode(raw), None
    if cte in ("", "7bit", "8bit", "binary", "7-bit", "8-bit"):
        return raw, None
    return raw, f"unknown Content-Transfer-Encoding {cte[:40]!r}"


def _uudecode(raw: bytes) -> bytes:
    out = bytearray()
    started = False
    for line in raw.splitlines():
        if not started:
            started = line.startswith(b"begin")
            continue
        if line.strip() == b"end":
            break
        if not line.strip():
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # trailing garbage on a line: decode the length the line announces (what the stdlib does)
            nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:nbytes])
            except binascii.Error:
                continue
    return bytes(out) if started else raw


def _text_slice(data: bytes) -> bytes:
    if len(data) <= _TEXT_BYTES:
        return data
    cut = data.rfind(b"\n", _TEXT_BYTES - 4096, _TEXT_BYTES)
    # a newline byte never sits inside a multibyte character in the encodings mail uses, so cut there
    return data[: cut if cut > 0 else _TEXT_BYTES]


# -- HTML to text ------------------------------------------------------------------------------------------------

# One tokenizer pattern, split() over the whole document: text between tokens is kept, a block tag (<br>, <p>,
# <div>, …) becomes a line break marker (group 1), a table cell (<td>, <th>) a space (group 2), everything else
# (comments, <!…>, <?…?>, other tags, <script>/<style> with their content) nothing. The tokens, tried at each "<":
#   a comment runs to "-->" or the end of the text; <!…> and <?…> to ">" or the end; <script> and <style> (not
#   self-closed) run to their end tag's ">", or to the end of the text when there is none; any other tag runs to
#   its ">" and one never closed to the end of the text (nothing after it is text); a "<" that starts none of
#   these is text. Tag names are ASCII, compared ignoring ASCII case; a name is the longest run of [A-Za-z0-9:-].
# Linear: every quantifier is over a single character class (no nesting), and an alternative that fails after a
# scan (a tag with no ">" after it) is followed by one that consumes the text it scanned, so each character is
# looked at a bounded number of times.
# (html.parser is not used: on unclosed constructs like "<a<a<a…" it rescans the rest of the input at every "<".)
_NAME_END = r"(?![A-Za-z0-9:-])"
# the block tags that break a line, as a trie so the engine does not try 26 names one by one: br blockquote p pre
# div dd dt tr table title h1-h6 hr header li ul ol section article footer center form
_BREAK_NAMES = (
    r"b(?:r|lockquote)|p(?:re)?|d(?:iv|d|t)|t(?:r|able|itle)|h[1-6r]|header|li|[uo]l"
    r"|section|article|footer|center|form"
)
_HTML_TOKEN = re.compile(
    r"<(?:"
    r"!--(?s:.*?-->|.*)"
    r"|[!?][^>]*>?"
    r"|(?ai:script)" + _NAME_END + r"[^>]*(?<!/)>(?s:.*?(?i:</script)[^>]*>?|.*)"
    r"|(?ai:style)" + _NAME_END + r"[^>]*(?<!/)>(?s:.*?(?i:</style)[^>]*>?|.*)"
    r"|(/?(?ai:" + _BREAK_NAMES + r")" + _NAME_END + r"[^>]*>)"
    r"|(/?(?ai:td|th)" + _NAME_END + r"[^>]*>)"
    r"|/?[A-Za-z][^>]*>?"
    r")"
)
_BREAK = "\ue000"
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str, limit: int = MAX_TEXT) -> str:
    """HTML reduced to the text a reader sees: scripts and styles dropped, entities unescaped, line breaks kept
    for <br>, <p>, <div> and other blocks. Linear in the input, whatever the markup (see `_HTML_TOKEN`)."""
    # Breaks from tags are marked with a private-use character so that one pass can collapse the source's own
    # whitespace (which HTML does not render) without losing them.
    parts = _HTML_TOKEN.split(html.replace(_BREAK, ""))
    parts[1::3] = [_BREAK if tag else "" for tag in parts[1::3]]
    parts[2::3] = [" " if tag else "" for tag in parts[2::3]]
    text = _SPACES.sub(" ", html_lib.unescape("".join(parts))).replace(_BREAK, "\n")
    # whitespace is collapsed to single spaces, so stripping each line is dropping one space beside each break
    # (the text's own ends are stripped below)
    text = text.replace(" \n", "\n").replace("\n ", "\n")
    return _BLANK_LINES.sub("\n\n", text).strip()[:limit]

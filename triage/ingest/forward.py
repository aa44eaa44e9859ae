"""Forwarded messages: when an analyst forwards a suspicious mail, the original is the message under analysis.

Three shapes are recognised: a message/rfc822 part, an attached .eml (any Content-Type, or bytes that start with
a header block), and an inline forward (a marker line such as "---------- Forwarded message ---------" or
Outlook's "差出人: … 送信日時: … 件名:" block, followed by the quoted headers). A forward is a short covering note
around exactly one original; a long newsletter that happens to carry a message, a bounce, a digest, or a reply
quoting earlier mail are not forwards.

`parse_email` runs the detection once and stores the result on `ParsedEmail.original`, so `find_original`
returns the same objects every time: the engine recognises the original among the unpacked parts by identity.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from triage.ingest.eml import MAX_TEXT, MimePart, ParsedEmail, address_list, parse_email, split_address
from triage.model import MessageInfo

__all__ = ["MAX_COVER_TEXT", "Forwarded", "detect_original", "find_original"]

MAX_COVER_TEXT = 2000  # characters of covering text (quotes and signature removed) a forward may carry
_SNIFF_BYTES = 8192
_BLOCK_LINES = 40
_NOT_FORWARD_ROOTS = frozenset({"multipart/report", "multipart/digest"})
_NOT_FORWARD_CONTAINERS = _NOT_FORWARD_ROOTS


@dataclass(frozen=True)
class Forwarded:
    """The original inside a forward, and how it was found."""

    how: str  # "rfc822", "attached-eml", "inline"
    part_path: str | None  # the MIME path of the part holding it; None for inline forwards
    parsed: ParsedEmail
    evidence: tuple[str, ...] = ()


def find_original(parsed: ParsedEmail) -> Forwarded | None:
    """The original message `parsed` forwards, or None. Computed once by `parse_email`."""
    return parsed.original


def detect_original(parsed: ParsedEmail, parse: Callable[[bytes], ParsedEmail] | None = None) -> Forwarded | None:
    """Decide whether `parsed` is a forward and build the original. `parse` parses an attached .eml (parse_email
    by default; the parser passes its own to bound nesting)."""
    try:
        return _detect(parsed, parse or parse_email)
    except RecursionError:
        return None


def _detect(parsed: ParsedEmail, parse: Callable[[bytes], ParsedEmail]) -> Forwarded | None:
    if _root_type(parsed) in _NOT_FORWARD_ROOTS:
        return None
    body = parsed.text if parsed.text.strip() else parsed.html_text
    candidates = [p for p in parsed.parts if _is_attached_original(p)]
    if candidates:
        if _cover_length(body.splitlines()) > MAX_COVER_TEXT:
            return None
        return _attached(candidates, parse)
    return _inline(parsed, body)


def _root_type(parsed: ParsedEmail) -> str:
    for name, value in parsed.headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return "text/plain"


# -- attached originals ------------------------------------------------------------------------------------------

_HEADER_LINE = re.compile(rb"([!-9;-~]{1,76}):")
_GIT_PATCH = re.compile(rb"From [0-9a-f]{40} Mon Sep 17 00:00:00 2001")
_PATCH_NAMES = (".patch", ".diff")
_PATCH_TYPES = frozenset({"text/x-patch", "text/x-diff", "text/x-git-patch"})


def _is_attached_original(part: MimePart) -> bool:
    if part.container in _NOT_FORWARD_CONTAINERS:
        return False  # a digest's messages are list traffic, a report's message is a bounce
    if part.message is not None:
        return True
    if part.is_body or not part.payload:
        return False
    name = (part.filename or "").strip().rstrip(".").lower()
    if name.endswith(".eml"):
        return True
    if name.endswith(_PATCH_NAMES) or part.content_type in _PATCH_TYPES or _GIT_PATCH.match(part.payload):
        return False  # git format-patch output has mail headers but is a patch, not a forwarded message
    return _looks_like_message(part.payload)


def _looks_like_message(data: bytes) -> bool:
    """A header block with From and (Subject or Date) before the first blank line."""
    names: set[bytes] = set()
    for line in data[:_SNIFF_BYTES].splitlines():
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        if line.startswith(b"From ") and not names:
            continue  # mbox separator
        m = _HEADER_LINE.match(line)
        if m is None:
            return False
        names.add(m.group(1).lower())
    return b"from" in names and (b"subject" in names or b"date" in names)


def _attached(candidates: Sequence[MimePart], parse: Callable[[bytes], ParsedEmail]) -> Forwarded:
    part = candidates[0]
    if part.message is not None:
        how, original = "rfc822", part.message
        evidence = [f"part {part.path} {part.content_type}" + (f' "{_escape(part.filename)}"' if part.filename else "")]
    else:
        how, original = "attached-eml", parse(part.payload)
        evidence = [
            f'part {part.path} "{_escape(part.filename)}"' if part.filename else f"part {part.path} {part.content_type}"
        ]
    if len(candidates) > 1:
        evidence.append(f"{len(candidates)} originals attached")
    return Forwarded(how=how, part_path=part.path, parsed=original, evidence=tuple(evidence))


# -- inline forwards ---------------------------------------------------------------------------------------------

# Linear on hostile lines (a marker line can be a megabyte of spaces): the decoration runs are possessive, so the
# engine never re-splits a run between two of them (the words and ':' are not decoration, so nothing is lost), and
# ".*--$" asks what ".*-{2,}$" asked without rescanning a run of dashes from every position in it.
_DECOR = r"[-=_*\s]*+"
_EXPLICIT_MARKER = re.compile(
    rf"^{_DECOR}(?:forwarded message|begin forwarded message|forwarded message follows|"
    rf"転送メッセージ|転送されたメッセージ|転送元のメッセージ|転送済みメッセージ|"
    rf"message transféré|weitergeleitete nachricht|mensaje reenviado){_DECOR}[:：]?{_DECOR}$"
    r"|^-{2,}\s*forwarded by\b.*--$",
    re.IGNORECASE,
)
# Outlook writes these for replies too: they count as a forward only under a forward subject (FW:, 転送:)
_AMBIGUOUS_MARKER = re.compile(
    rf"^{_DECOR}(?:original message|元のメッセージ|オリジナル メッセージ|オリジナルメッセージ){_DECOR}[:：]?{_DECOR}$",
    re.IGNORECASE,
)
# The value is group 2 less its trailing "*", "_" and whitespace (`_block_value`): "(.*?)[*_\s]*$" said the same
# but retried the trailing run from every position inside a long run of spaces, quadratic on a hostile line.
_BLOCK_KEY = re.compile(
    r"^[*_\s]*(from|sent|date|to|cc|bcc|subject|reply-to|差出人|送信者|送信日時|日付|日時|宛先|件名|返信先|"
    r"importance|重要度|attachments|添付ファイル)[*_\s]*[:：][*_\s]*+(.*)$",
    re.IGNORECASE,
)
_CANONICAL = {
    "from": "from",
    "差出人": "from",
    "送信者": "from",
    "sent": "date",
    "date": "date",
    "送信日時": "date",
    "日付": "date",
    "日時": "date",
    "to": "to",
    "宛先": "to",
    "cc": "cc",
    "bcc": "bcc",
    "subject": "subject",
    "件名": "subject",
    "reply-to": "reply-to",
    "返信先": "reply-to",
}
_OUTLOOK_FROM = re.compile(r"^[*_\s]*(?:from|差出人)[*_\s]*[:：]", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^[*_\s]*(?:sent|送信日時)[*_\s]*[:：]", re.IGNORECASE)
# list tags ("[linux-nfc] FW: …") may come first
_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{0,64}\]\s*)*(?:fw|fwd|tr|wg|rv|転送|转发)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE
)
_LIST_KEYS = frozenset({"to", "cc", "bcc", "reply-to"})


def _inline(parsed: ParsedEmail, body: str) -> Forwarded | None:
    lines = body.splitlines()
    cover = 0
    in_signature = False
    for idx, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            # quoted text is a reply, not a forward; a blank line is neither a marker nor cover text (and a body
            # of a million blank lines must not cost three regular expressions each)
            continue
        start: int | None = None
        ambiguous = False
        if _EXPLICIT_MARKER.match(stripped):
            start = idx + 1
        elif _AMBIGUOUS_MARKER.match(stripped):
            start, ambiguous = idx + 1, True
        elif _OUTLOOK_FROM.match(stripped) and _outlook_block(lines, idx):
            start, ambiguous = idx, True
        if start is not None:
            if ambiguous and not _FORWARD_SUBJECT.match(parsed.info.subject or ""):
                return None
            found = _header_block(lines, start)
            if found is not None:
                pairs, body_start = found
                return Forwarded(
                    how="inline",
                    part_path=None,
                    parsed=_original_from_block(pairs, lines[body_start:]),
                    evidence=(_escape(stripped[:160]),),
                )
        if stripped in ("--", "-- ") or line == "-- ":
            in_signature = True
        if not in_signature:
            cover += len(" ".join(stripped.split()))
            if cover > MAX_COVER_TEXT:
                return None
    return None


def _outlook_block(lines: Sequence[str], idx: int) -> bool:
    """Outlook quotes the original as From / Sent / To / Subject lines with no marker above them."""
    return any(_OUTLOOK_SENT.match(line.strip()) for line in lines[idx + 1 : idx + 4])


def _header_block(lines: Sequence[str], start: int) -> tuple[list[tuple[str, str]], int] | None:
    i = start
    blanks = 0
    while i < len(lines) and not lines[i].strip() and blanks < 3:
        i, blanks = i + 1, blanks + 1
    pairs: list[tuple[str, str]] = []
    keys: list[str] = []
    end = min(len(lines), i + _BLOCK_LINES)
    while i < end:
        stripped = lines[i].strip()
        if not stripped:
            break
        m = _BLOCK_KEY.match(stripped)
        if m is not None:
            pairs.append((m.group(1), _block_value(m.group(2))))
            keys.append(_CANONICAL.get(m.group(1).lower(), m.group(1).lower()))
        elif keys and keys[-1] in _LIST_KEYS:
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {stripped}")  # a long recipient list wrapped by the mailer
        else:
            break
        i += 1
    if "from" not in keys or not ({"subject", "date"} & set(keys)):
        return None
    return pairs, i


def _block_value(text: str) -> str:
    end = len(text)
    while end and (text[end - 1] in "*_" or text[end - 1].isspace()):
        end -= 1
    return text[:end]


def _original_from_block(pairs: Sequence[tuple[str, str]], body: Sequence[str]) -> ParsedEmail:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(_CANONICAL.get(name.lower(), name.lower()), []).append(value)

    def first(key: str) -> str | None:
        found = values.get(key)
        return found[0].strip() or None if found else None

    from_addr, from_display = split_address(first("from"))
    info = MessageInfo(
        from_=from_addr,
        from_display=from_display,
        reply_to=address_list(values.get("reply-to")),
        to=address_list(values.get("to")),
        subject=first("subject"),
        date=first("date"),
    )
    text = "\n".join(body).strip("\n")[:MAX_TEXT]
    return ParsedEmail(info=info, headers=tuple(pairs), text=text)


# -- helpers -----------------------------------------------------------------------------------------------------


def _cover_length(lines: Sequence[str]) -> int:
    """Length of the sender's own words: quoted lines and the signature do not count."""
    total = 0
    for line in lines:
        stripped = line.strip()
        if line == "-- " or stripped == "--":
            break
        if stripped.startswith(">"):
            continue
        total += len(" ".join(stripped.split()))
        if total > MAX_COVER_TEXT:
            break
    return total


def _escape(text: str | None) -> str:
    """Evidence shows control and bidi characters as \\uXXXX, never raw (DESIGN §4)."""
    if not text:
        return ""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)

"""A Report as mail headers for the gateway: X-Triage-Verdict, -Score, -Findings and -Error, and the subject prefix.

The milter hands these to the MTA (folded with a bare LF, as libmilter asks); `triage filter` writes them into the
message itself with `rewrite_message`, which keeps the body byte for byte and removes every X-Triage-* header that
came from outside, so a sender cannot forge a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from email.header import Header

from triage.model import Report

PREFIX = "X-Triage-"
VERDICT = "X-Triage-Verdict"
SCORE = "X-Triage-Score"
FINDINGS = "X-Triage-Findings"
ERROR = "X-Triage-Error"
LINE_WIDTH = 78  # RFC 5322's recommended line length; the hard limit is 998
_MAX_DETAIL = 120
_UNSAFE = re.compile(r"[^\x20-\x7e]+")


def is_triage_header(name: str) -> bool:
    return name.strip().lower().startswith(PREFIX.lower())


def fold(name: str, words: Sequence[str], *, sep: str = ", ", linesep: str = "\n") -> str:
    """The value of header `name` made of `words`, folded before a word when a line would pass LINE_WIDTH.

    `linesep` is what goes before the continuation's leading space: a bare LF for libmilter, the message's own
    line ending when we write the message ourselves.
    """
    lines: list[str] = []
    line = ""
    used = len(name) + 2  # "Name: "
    for index, word in enumerate(words):
        piece = word + (sep.rstrip() if index < len(words) - 1 else "")
        if line and used + 1 + len(piece) > LINE_WIDTH:
            lines.append(line)
            line, used = piece, 1 + len(piece)
        else:
            line = f"{line} {piece}" if line else piece
            used += len(piece) + (1 if line != piece else 0)
    lines.append(line)
    return (linesep + " ").join(lines)


def _finding_ids(report: Report) -> list[str]:
    """Each id once, the heaviest first (ties by id) so a truncating reader sees what mattered."""
    weight: dict[str, float] = {}
    for finding in report.findings:
        weight[finding.id] = max(weight.get(finding.id, 0.0), finding.weight * finding.strength)
    return sorted(weight, key=lambda fid: (-weight[fid], fid))


def verdict_headers(report: Report, *, linesep: str = "\n") -> list[tuple[str, str]]:
    verdict = report.verdict.level.value + ("" if report.verdict.complete else "; incomplete")
    ids = _finding_ids(report) or ["none"]
    return [
        (VERDICT, verdict),
        (SCORE, f"{report.score.total:.1f}"),
        (FINDINGS, fold(FINDINGS, ids, linesep=linesep)),
    ]


def error_header(kind: str, detail: str = "") -> tuple[str, str]:
    """X-Triage-Error: <kind>[; detail] — ASCII, one line, bounded (the detail may quote hostile text)."""
    text = _UNSAFE.sub(" ", detail).strip()[:_MAX_DETAIL]
    return (ERROR, f"{kind}; {text}" if text else kind)


def prefixed_subject(raw_value: str | None, prefix: str) -> str:
    """The Subject header's value with `prefix` in front, as it goes on the wire.

    `raw_value` is the header as received (it may hold RFC 2047 words). A non-ASCII prefix is written as its own
    encoded word; decoders join adjacent encoded words, so the original subject is unchanged. A subject that
    already starts with the prefix (a message passing the gateway twice) is left as it is.
    """
    value = (raw_value or "").strip()
    if not prefix:
        return value
    if prefix.isascii():
        return value if value.startswith(prefix) else prefix + value
    word = Header(prefix, "utf-8").encode()
    if value.startswith(word):
        return value
    return f"{word} {value}" if value else word


_FIELD_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")


def _split_head(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(header block, separator line ending, body). The header block keeps its own line endings."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(sep)
        if index >= 0:
            other = b"\n\n" if sep == b"\r\n\r\n" else b"\r\n\r\n"
            other_index = raw.find(other)
            if other_index < 0 or index <= other_index:
                half = len(sep) // 2
                return raw[: index + half], raw[index + half : index + len(sep)], raw[index + len(sep) :]
    return raw, b"", b""


def _fields(head: bytes) -> list[bytes]:
    """Header fields, each with its continuation lines and line endings."""
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def rewrite_message(raw: bytes, add: Iterable[tuple[str, str]], subject_prefix: str = "") -> bytes:
    """`raw` without X-Triage-* headers, with `add` at the end of its header block and the subject prefixed.

    The body is untouched. Lines before the first header that are not header fields (an mbox "From " line from
    procmail) are kept as they are.
    """
    head, blank, body = _split_head(raw)
    eol = b"\r\n" if b"\r\n" in head[:2000] or (not head and b"\r\n" in raw[:2000]) else b"\n"
    out: list[bytes] = []
    saw_subject = False
    for field in _fields(head):
        match = _FIELD_NAME.match(field)
        name = match.group(1).decode("ascii") if match else ""
        if name and is_triage_header(name):
            continue
        if name.lower() == "subject" and subject_prefix and not saw_subject:
            saw_subject = True
            value = field[match.end() :] if match else b""
            text = value.decode("ascii", "surrogateescape")
            unfolded = re.sub(r"\r?\n(?=[ \t])", "", text).strip()
            field = b"Subject: " + prefixed_subject(unfolded, subject_prefix).encode("ascii", "surrogateescape") + eol
        out.append(field)
    if out and not out[-1].endswith((b"\n", b"\r")):
        out[-1] += eol
    linesep = eol.decode("ascii")
    extra = [(name, value) for name, value in add]
    if subject_prefix and not saw_subject:
        extra.append(("Subject", prefixed_subject(None, subject_prefix)))
    for name, text in extra:
        text = text.replace("\r\n", "\n").replace("\n", linesep)
        out.append(f"{name}: {text}".encode("ascii", "replace") + eol)
    if not blank:
        blank = eol
    return b"".join(out) + blank + body

"""Outlook .msg → RFC 822 bytes the engine can scan, with extract-msg (imported lazily: it is slow to import).

Only the properties are read: transport headers (PR_TRANSPORT_MESSAGE_HEADERS) when the message travelled,
the plain and HTML bodies, the attachments' bytes and embedded messages (depth-bounded, as message/rfc822
parts). extract-msg's own `asEmailMessage` is not used: it de-encapsulates RTF bodies with a parser that takes
seconds per message and has no bound on hostile input. An RTF-only body is attached as `body.rtf` instead, so
the RTF checks still see it. Non-mail items (contacts, tasks, notes, calendar items) are reported as such.

A ".msg" that is really RFC 822 text (saved from a web mailer) is recognised by the caller and never reaches
here: `is_ole` tells them apart.
"""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from triage.sources.rebuild import (
    NOTE_HEADER,
    add_file,
    add_message,
    as_text,
    copy_transport_headers,
    new_message,
    safe,
    safe_call,
    set_bodies,
    set_header,
)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAX_EMBED_DEPTH = 4
_MAX_ATTACHMENTS = 500
# Message classes that are mail (PR_MESSAGE_CLASS, case-insensitive prefixes).
_MAIL_CLASSES = ("ipm.note", "ipm.post", "ipm.schedule.meeting", "report.", "ipm.outlook.recall")


class NotMail(Exception):
    """The .msg is an Outlook item that is not a message (a contact, a task...)."""


class MsgError(Exception):
    """The .msg could not be read or converted."""


@dataclass(frozen=True)
class _Budget:
    limit: int


def is_ole(head: bytes) -> bool:
    return head.startswith(OLE_MAGIC)


def as_message(raw: bytes, *, limit: int) -> bytes:
    """Bytes read from a file as the message to scan: refused over `limit` (ValueError), an Outlook .msg converted
    to the RFC 822 message it holds (NotMail, MsgError), anything else as it is."""
    if len(raw) > limit:
        raise ValueError(f"larger than max_message_size ({limit} bytes); not scanned")
    if is_ole(raw):
        return msg_to_rfc822(raw, limit=limit)
    return raw


def msg_to_rfc822(data: bytes, *, limit: int) -> bytes:
    """The .msg as RFC 822 bytes; raises NotMail or MsgError. At most `limit` bytes of attachments are kept."""
    try:
        import extract_msg
    except ImportError as exc:  # an optional extra
        raise MsgError("extract-msg is not installed") from exc
    try:
        msg = extract_msg.openMsg(data, strict=False, delayAttachments=False)
    except Exception as exc:  # the library raises anything on crafted input
        raise MsgError(f"not a readable .msg: {type(exc).__name__}: {str(exc)[:200]}") from exc
    try:
        klass = str(safe(lambda: msg.classType) or "").rstrip("\x00").lower()
        if klass and not klass.startswith(_MAIL_CLASSES):
            raise NotMail(f"Outlook item of class {klass!r} is not a message")
        out = _convert(msg, _Budget(limit), 0).as_bytes(policy=email.policy.SMTP)
    except NotMail:
        raise
    except Exception as exc:
        raise MsgError(f"cannot convert .msg: {type(exc).__name__}: {str(exc)[:200]}") from exc
    finally:
        safe(msg.close)
    return out


def _convert(msg: Any, budget: _Budget, depth: int) -> EmailMessage:
    out = new_message()
    transport = safe(lambda: msg.getStringStream("__substg1.0_007D"))
    if isinstance(transport, str) and transport.strip():
        copy_transport_headers(out, transport)
    else:
        _synthesise_headers(out, msg)
    text = as_text(safe(lambda: msg.getStringStream("__substg1.0_1000")))
    html = as_text(safe(lambda: msg.getStream("__substg1.0_10130102")))
    set_bodies(out, text, html)
    if not text and not html:
        rtf = safe(lambda: msg.rtfBody)
        if isinstance(rtf, bytes) and rtf and len(rtf) <= budget.limit:
            add_file(out, rtf, "body.rtf", "text/rtf")
    _attach_all(out, safe(lambda: msg.attachments) or (), budget, depth)
    return out


def _synthesise_headers(out: EmailMessage, msg: Any) -> None:
    fields = (
        ("From", lambda: msg.sender),
        ("To", lambda: msg.to),
        ("Cc", lambda: msg.cc),
        ("Subject", lambda: msg.subject),
        ("Message-ID", lambda: msg.messageId),
    )
    for name, get in fields:
        value = safe(get)
        if isinstance(value, str) and value.strip():
            set_header(out, name, value)
    date = safe(lambda: msg.date)
    if date is not None and hasattr(date, "tzinfo"):
        stamp = safe(lambda: format_datetime(date))
        if stamp:
            out["Date"] = stamp
    out[NOTE_HEADER] = "converted from Outlook .msg without transport headers"


def _attach_all(out: EmailMessage, attachments: Sequence[Any], budget: _Budget, depth: int) -> None:
    used = 0
    for n, att in enumerate(attachments):
        if n >= _MAX_ATTACHMENTS:
            break
        name = (
            safe_call(getattr, att, "longFilename")
            or safe_call(getattr, att, "shortFilename")
            or safe_call(getattr, att, "name")
        )
        name = str(name) if name else f"attachment{n}"
        data = safe_call(getattr, att, "data")
        if isinstance(data, bytes):
            if used + len(data) > budget.limit:
                continue  # past the budget: the rest would be cut by the engine anyway
            used += len(data)
            add_file(out, data, name, str(safe_call(getattr, att, "mimetype") or "") or None)
        elif data is not None and hasattr(data, "getStringStream") and depth < _MAX_EMBED_DEPTH:
            add_message(out, _convert(data, budget, depth + 1), name)

"""Building RFC 822 bytes from a message store's properties (.msg, PST): headers, bodies, attachments.

Outlook keeps the headers a message arrived with (PR_TRANSPORT_MESSAGE_HEADERS) apart from its bodies and
attachments; we put them back together so the engine scans a converted message exactly like a received one.
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, TypeVar

T = TypeVar("T")

# Headers rebuilt from the parts we write, so the transport copies must not survive.
_BODY_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version", "content-disposition"})
NOTE_HEADER = "X-Triage-Source"


def safe(get: Callable[[], T]) -> T | None:
    """A property read that may fail on a damaged file: None instead of an exception."""
    try:
        return get()
    except Exception:  # damaged properties are common in real exports; libraries raise anything
        return None


def safe_call(fn: Callable[..., T], *args: Any) -> T | None:
    """`safe` for a call with arguments (lambdas with default arguments defeat type inference)."""
    try:
        return fn(*args)
    except Exception:  # damaged items: libraries raise anything
        return None


def new_message() -> EmailMessage:
    return EmailMessage(policy=email.policy.SMTP)


def copy_transport_headers(out: EmailMessage, transport: str) -> None:
    """The arrival headers, unfolded, minus the body's own (those describe parts we rebuild)."""
    parsed = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(transport.replace("\r\n", "\n"))
    for name, value in parsed.items():
        if name.lower() in _BODY_HEADERS:
            continue
        set_header(out, name, str(value))


def set_header(out: EmailMessage, name: str, value: str) -> None:
    value = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    try:
        out[name] = value
    except (ValueError, TypeError, IndexError):
        out[name] = value.encode("ascii", "backslashreplace").decode("ascii")


def set_bodies(out: EmailMessage, text: str | None, html: str | None) -> None:
    if text:
        out.set_content(text, subtype="plain", cte="base64")
    if html:
        if text:
            out.add_alternative(html, subtype="html", cte="base64")
        else:
            out.set_content(html, subtype="html", cte="base64")


def add_file(out: EmailMessage, data: bytes, name: str, mime: str | None) -> None:
    maintype, _, subtype = (mime or "application/octet-stream").partition("/")
    if not maintype or not subtype or maintype in ("multipart", "message") or "/" in subtype:
        maintype, subtype = "application", "octet-stream"
    out.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


def add_message(out: EmailMessage, inner: EmailMessage, name: str | None) -> None:
    out.add_attachment(inner, filename=name if name and name.lower().endswith((".msg", ".eml")) else None)


def as_text(value: Any) -> str | None:
    """A body as text: pypff returns bytes (UTF-8), extract-msg str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(value, str):
        return value
    return None

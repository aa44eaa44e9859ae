"""Raw message builders for ingest tests: exact bytes, so tests can send what real (non-compliant) mailers send."""

from __future__ import annotations

import base64
from collections.abc import Sequence

Header = tuple[str, bytes | str]


def _header_bytes(headers: Sequence[Header]) -> bytes:
    out = b""
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")  # non-ASCII str: raw 8-bit
        out += name.encode("ascii") + b": " + raw + b"\r\n"
    return out


def mime(headers: Sequence[Header], body: bytes = b"") -> bytes:
    """One entity (a message or a MIME part): headers, a blank line, the body as given."""
    return _header_bytes(headers) + b"\r\n" + body


def multipart(
    parts: Sequence[bytes],
    *,
    headers: Sequence[Header] = (),
    subtype: str = "mixed",
    boundary: str = "BOUNDARY",
    close: bool = True,
) -> bytes:
    """A multipart entity holding already-built parts."""
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    if close:
        body += b"--" + boundary.encode() + b"--\r\n"
    ctype = f'multipart/{subtype}; boundary="{boundary}"'
    return mime([*headers, ("MIME-Version", "1.0"), ("Content-Type", ctype)], body)


def text_part(text: str, charset: str = "utf-8", subtype: str = "plain", cte: str = "8bit") -> bytes:
    data = text.encode(charset)
    if cte == "base64":
        data = base64.encodebytes(data)
    return mime([("Content-Type", f"text/{subtype}; charset={charset}"), ("Content-Transfer-Encoding", cte)], data)


def attachment(data: bytes, disposition: bytes | str, ctype: bytes | str = "application/octet-stream") -> bytes:
    return mime(
        [("Content-Type", ctype), ("Content-Disposition", disposition), ("Content-Transfer-Encoding", "base64")],
        base64.encodebytes(data),
    )


def envelope(subject: bytes | str = "test", sender: bytes | str = "Sender <sender@example.com>") -> list[Header]:
    return [
        ("From", sender),
        ("To", "analyst@example.jp"),
        ("Subject", subject),
        ("Date", "Mon, 16 Nov 2026 10:00:00 +0900"),
        ("Message-ID", "<msg@example.com>"),
    ]


def b_word(text: str, charset: str) -> str:
    """One RFC 2047 B encoded-word."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset.lower().replace('-', '_'))).decode()}?="

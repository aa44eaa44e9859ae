"""Mailbox exports for sweep tests and samples: a PPAP pair (an encrypted zip in one mail, its password in a
second mail five minutes later) in an mbox, with unrelated mail around it.

The zip is written here with ZipCrypto (the stdlib reads it but cannot write it); the payload is whatever the
caller passes (tests use tests/_pe.py's minimal PE). Deterministic; nothing is written to disk.
"""

from __future__ import annotations

import struct
import zlib
from email.message import EmailMessage
from email.policy import SMTP

__all__ = ["PPAP_PASSWORD", "mbox", "ppap_messages", "zipcrypto_zip"]

PPAP_PASSWORD = "Kx7#pR2m"
_TABLE = tuple(zlib.crc32(bytes((i,)), 0xFFFFFFFF) ^ 0xFFFFFFFF for i in range(256))


def _keys(password: bytes) -> list[int]:
    keys = [0x12345678, 0x23456789, 0x34567890]
    for byte in password:
        _update(keys, byte)
    return keys


def _update(keys: list[int], byte: int) -> None:
    keys[0] = (keys[0] >> 8) ^ _TABLE[(keys[0] ^ byte) & 0xFF]
    keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
    keys[2] = (keys[2] >> 8) ^ _TABLE[(keys[2] ^ (keys[1] >> 24)) & 0xFF]


def _encrypt(password: bytes, plain: bytes) -> bytes:
    keys = _keys(password)
    out = bytearray()
    for byte in plain:
        k = keys[2] | 2
        out.append(byte ^ (((k * (k ^ 1)) >> 8) & 0xFF))
        _update(keys, byte)
    return bytes(out)


def zipcrypto_zip(name: str, data: bytes, password: str) -> bytes:
    """A one-member zip, stored, encrypted with ZipCrypto."""
    raw_name = name.encode("utf-8")
    crc = zlib.crc32(data)
    payload = _encrypt(password.encode("utf-8"), b"\x5a" * 11 + bytes(((crc >> 24) & 0xFF,)) + data)
    flags = 0x1 | (0x800 if not name.isascii() else 0)
    dos_time, dos_date = (12 << 11) | (34 << 5), ((2026 - 1980) << 9) | (11 << 5) | 18
    local = struct.pack(
        "<4s2B4HL2L2H",
        b"PK\x03\x04",
        20,
        0,
        flags,
        0,
        dos_time,
        dos_date,
        crc,
        len(payload),
        len(data),
        len(raw_name),
        0,
    )
    central = struct.pack(
        "<4s4B4HL2L5H2L",
        b"PK\x01\x02",
        20,
        0,
        20,
        0,
        flags,
        0,
        dos_time,
        dos_date,
        crc,
        len(payload),
        len(data),
        len(raw_name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + raw_name + payload
    directory = central + raw_name
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + eocd


def _message(
    *,
    sender: str,
    to: str,
    subject: str,
    date: str,
    message_id: str,
    body: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = message_id
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    return msg


def ppap_messages(payload: bytes, *, password: str = PPAP_PASSWORD, inner_name: str = "見積書.exe") -> list[bytes]:
    """An unrelated mail, the archive mail, another unrelated mail, the password mail 5 minutes after the archive."""
    sender = "田中 一郎 <tanaka@example-trading.co.jp>"
    to = "sato@example.jp"
    first = _message(
        sender="news@example.org",
        to=to,
        subject="週報",
        date="Wed, 18 Nov 2026 09:00:00 +0900",
        message_id="<weekly-1@example.org>",
        body="今週の予定をお知らせします。",
    )
    archive = _message(
        sender=sender,
        to=to,
        subject="【ご確認】お見積書の送付",
        date="Wed, 18 Nov 2026 10:00:00 +0900",
        message_id="<ppap-archive@example-trading.co.jp>",
        body="お世話になっております。\nお見積書を添付いたします。パスワードは別途お送りします。",
    )
    archive.add_attachment(
        zipcrypto_zip(inner_name, payload, password), maintype="application", subtype="zip", filename="見積書.zip"
    )
    other = _message(
        sender="info@example.net",
        to=to,
        subject="Meeting notes",
        date="Wed, 18 Nov 2026 10:02:00 +0900",
        message_id="<notes-7@example.net>",
        body="Notes attached next week.",
    )
    followup = _message(
        sender=sender,
        to=to,
        subject="【パスワード】お見積書の送付",
        date="Wed, 18 Nov 2026 10:05:00 +0900",
        message_id="<ppap-password@example-trading.co.jp>",
        body=f"先ほどお送りしたファイルのパスワードをお知らせします。\n\nパスワード：{password}\n",
        headers=(("In-Reply-To", "<ppap-archive@example-trading.co.jp>"),),
    )
    return [m.as_bytes(policy=SMTP) for m in (first, archive, other, followup)]


def mbox(messages: list[bytes]) -> bytes:
    """An mboxrd file: a From_ line before each message, body lines starting "From " escaped."""
    out = bytearray()
    for raw in messages:
        text = raw.replace(b"\r\n", b"\n")
        out += b"From MAILER-DAEMON Wed Nov 18 10:00:00 2026\n"
        for line in text.split(b"\n"):
            if line.lstrip(b">").startswith(b"From "):
                line = b">" + line
            out += line + b"\n"
        if not text.endswith(b"\n"):
            out += b"\n"
    return bytes(out)

"""What a file in a mailbox export is, decided by its first bytes (exports rarely keep extensions)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from triage.sources.mbox import looks_like_mbox
from triage.sources.msg import is_ole
from triage.sources.pst import is_pst

SNIFF_BYTES = 65536
ZIP_MAGIC = b"PK\x03\x04"

# head bytes, name -> does it look like an RFC 822 message (the engine's FileTyper answers this)
LooksLikeEmail = Callable[[bytes, str], bool]


class FileKind(StrEnum):
    MBOX = "mbox"
    PST = "pst"
    ZIP = "zip"
    MSG = "msg"
    EML = "eml"
    OTHER = "other"


def classify(head: bytes, name: str, looks_like_email: LooksLikeEmail) -> FileKind:
    if is_pst(head):
        return FileKind.PST
    if head.startswith(ZIP_MAGIC):
        return FileKind.ZIP
    if is_ole(head):
        # Any OLE file named .msg, or one whose directory says Outlook; a .doc in an export is not a message.
        return FileKind.MSG if name.lower().endswith(".msg") or looks_like_outlook(head) else FileKind.OTHER
    if looks_like_mbox(head):
        return FileKind.MBOX
    if looks_like_email(head, name) or name.lower().endswith((".eml", ".msg")):
        # A name saying "message" is taken at its word when the content is no other known format: damaged
        # headers are exactly what a sweep must not skip (the engine reports what it cannot parse).
        return FileKind.EML
    return FileKind.OTHER


def looks_like_outlook(head: bytes) -> bool:
    """Outlook .msg streams are named __substg1.0_XXXX (UTF-16 in the OLE directory)."""
    return "__substg1.0_".encode("utf-16-le") in head or "__properties_version1.0".encode("utf-16-le") in head

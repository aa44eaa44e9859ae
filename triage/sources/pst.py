"""Outlook PST/OST files through libpff-python (`pypff`, imported lazily), rebuilt message by message as RFC 822.

The folder tree is walked depth-first; items that are not mail (contacts, tasks, calendar entries, notes) are
skipped by their message class. The stable id is the file, the folder path and libpff's item identifier (the
node id, fixed for the life of the file). Bodies and attachments are read with size caps; an embedded message
becomes a message/rfc822 part (depth-bounded). Only the interface used here is assumed of `pypff`, so tests
drive the walk with a small object graph of the same shape (no PST writer exists to build a real one).
"""

from __future__ import annotations

import email.policy
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from triage.sources.entry import MailEntry, Want, skipped, too_large, unreadable
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

PST_MAGIC = b"!BDN"
_PR_MESSAGE_CLASS = 0x001A
_PR_ATTACH_LONG_FILENAME = 0x3707
_PR_ATTACH_FILENAME = 0x3704
_PR_ATTACH_MIME_TAG = 0x370E
_MAX_FOLDER_DEPTH = 64
_MAX_ENTRIES = 4096  # record entries read per item looking for one property
_MAX_ATTACHMENTS = 500
_MAX_EMBED_DEPTH = 4
_NON_MAIL = ("ipm.contact", "ipm.task", "ipm.appointment", "ipm.stickynote", "ipm.activity", "ipm.distlist")

Opener = Callable[[str], Any]  # path -> an open pypff.file-like object


def is_pst(head: bytes) -> bool:
    return head.startswith(PST_MAGIC)


def open_pst(path: str) -> Any:
    import pypff

    pst = pypff.file()
    pst.open(path)
    return pst


def iter_pst(path: str, *, limit: int, want: Want, opener: Opener = open_pst) -> Iterator[MailEntry]:
    try:
        pst = opener(path)
        root = pst.get_root_folder()
    except Exception as exc:  # libpff raises IOError/anything on damaged files
        yield unreadable(f"pst:{path}", path, "", f"unparsable: not a readable PST: {exc}")
        return
    try:
        yield from _folder(root, path, "", limit, want, 0)
    finally:
        safe(pst.close)


def _folder(folder: Any, path: str, folder_path: str, limit: int, want: Want, depth: int) -> Iterator[MailEntry]:
    count = safe(lambda: folder.get_number_of_sub_messages()) or 0
    for i in range(int(count)):
        item = safe_call(folder.get_sub_message, i)
        if item is None:
            yield unreadable(f"pst:{path}|{folder_path}#{i}", path, folder_path, "unparsable: unreadable PST item")
            continue
        yield from _item(item, path, folder_path, limit, want)
    if depth >= _MAX_FOLDER_DEPTH:
        return
    subs = safe(lambda: folder.get_number_of_sub_folders()) or 0
    for i in range(int(subs)):
        sub = safe_call(folder.get_sub_folder, i)
        if sub is None:
            continue
        name = str(safe_call(sub.get_name) or f"#{i}").replace("/", "_")
        yield from _folder(sub, path, f"{folder_path}/{name}" if folder_path else name, limit, want, depth + 1)


def _item(item: Any, path: str, folder_path: str, limit: int, want: Want) -> Iterator[MailEntry]:
    klass = (_property_string(item, _PR_MESSAGE_CLASS) or "").lower()
    if klass.startswith(_NON_MAIL):
        return
    ident = safe(lambda: item.get_identifier())
    source_id = f"pst:{path}|{folder_path}@{ident}"
    if not want(source_id):
        yield skipped(source_id, path, folder_path, 0)
        return
    try:
        raw = _convert(item, limit, 0).as_bytes(policy=email.policy.SMTP)
    except Exception as exc:  # a damaged item must not end the sweep
        yield unreadable(source_id, path, folder_path, f"unparsable: cannot rebuild the PST item: {exc}")
        return
    if len(raw) > limit:
        yield too_large(source_id, path, folder_path, len(raw), limit)
        return
    yield MailEntry(source_id, path, folder_path, "rfc822", raw, len(raw))


def _property_string(item: Any, entry_type: int) -> str | None:
    rs = safe(lambda: item.get_record_set(0)) if (safe(lambda: item.get_number_of_record_sets()) or 0) else None
    if rs is None:
        return None
    n = min(int(safe(lambda: rs.get_number_of_entries()) or 0), _MAX_ENTRIES)
    for i in range(n):
        entry = safe_call(rs.get_entry, i)
        if entry is not None and safe_call(entry.get_entry_type) == entry_type:
            value = safe_call(entry.get_data_as_string)
            return str(value) if value is not None else None
    return None


def _convert(item: Any, limit: int, depth: int) -> EmailMessage:
    out = new_message()
    transport = as_text(safe(lambda: item.get_transport_headers()))
    if transport and transport.strip():
        copy_transport_headers(out, transport)
    else:
        for name, get in (("Subject", item.get_subject), ("From", item.get_sender_name)):
            value = as_text(safe(get))
            if value:
                set_header(out, name, value)
        when = safe(lambda: item.get_client_submit_time()) or safe(lambda: item.get_delivery_time())
        stamp = safe(lambda: format_datetime(when)) if when is not None else None
        if stamp:
            out["Date"] = stamp
        out[NOTE_HEADER] = "rebuilt from a PST item without transport headers"
    set_bodies(out, as_text(safe(lambda: item.get_plain_text_body())), as_text(safe(lambda: item.get_html_body())))
    used = 0
    count = min(int(safe(lambda: item.get_number_of_attachments()) or 0), _MAX_ATTACHMENTS)
    for i in range(count):
        att = safe_call(item.get_attachment, i)
        if att is None:
            continue
        embedded = _embedded_message(att)
        if embedded is not None:
            if depth < _MAX_EMBED_DEPTH:
                add_message(out, _convert(embedded, limit, depth + 1), None)
            continue
        size = safe_call(att.get_size)
        if not isinstance(size, int) or size < 0 or used + size > limit:
            continue
        data = safe_call(att.read_buffer, size)
        if not isinstance(data, bytes):
            continue
        used += len(data)
        name = (
            _property_string(att, _PR_ATTACH_LONG_FILENAME)
            or _property_string(att, _PR_ATTACH_FILENAME)
            or f"attachment{i}"
        )
        add_file(out, data, name, _property_string(att, _PR_ATTACH_MIME_TAG))
    return out


def _embedded_message(att: Any) -> Any:
    """An attached Outlook item (attach method 5) shows as the attachment's single sub-item."""
    if not (safe(lambda: att.get_number_of_sub_items()) or 0):
        return None
    sub = safe(lambda: att.get_sub_item(0))
    return sub if sub is not None and hasattr(sub, "get_transport_headers") else None

"""One message found in a mailbox export, as a sweep hands it to the scanner: a stable id and its bytes.

Sources read bytes eagerly but bounded: a message larger than the cap is not read at all; it becomes an entry
with `error` set, so the sweep records it (and never calls it clean) instead of silently skipping it.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

Kind = Literal["rfc822", "msg", "done", "error"]

# `want(source_id)` says whether the sweep still needs a message (False on resume for one already done).
Want = Callable[[str], bool]


@dataclass(frozen=True)
class MailEntry:
    """One message. `kind` is "rfc822" (bytes the engine scans), "msg" (an Outlook .msg the scanner converts),
    "done" (skipped: already in the results) or "error" (could not be read: `error` says why)."""

    source_id: str
    container: str  # the file or directory the message came from
    folder: str  # mailbox folder ("" when the format has none)
    kind: Kind
    data: bytes
    size: int  # bytes of the message in its container (for progress)
    error: str = ""


def want_all(_: str) -> bool:
    return True


def read_capped(fh: BinaryIO, limit: int) -> bytes | None:
    """At most `limit` bytes from `fh`; None when there are more (the caller reports the message as too large)."""
    data = fh.read(limit + 1)
    return None if len(data) > limit else data


def too_large(source_id: str, container: str, folder: str, size: int, limit: int) -> MailEntry:
    return MailEntry(
        source_id=source_id,
        container=container,
        folder=folder,
        kind="error",
        data=b"",
        size=size,
        error=f"too_large: {size} bytes exceeds max_message_size ({limit})",
    )


def unreadable(source_id: str, container: str, folder: str, why: str, size: int = 0) -> MailEntry:
    return MailEntry(
        source_id=source_id, container=container, folder=folder, kind="error", data=b"", size=size, error=why
    )


def skipped(source_id: str, container: str, folder: str, size: int) -> MailEntry:
    return MailEntry(source_id=source_id, container=container, folder=folder, kind="done", data=b"", size=size)


def read_mailbox_messages(
    box: mailbox.Mailbox[mailbox.Message],
    keys: Iterable[str],
    *,
    prefix: str,
    container: str,
    folder: str,
    limit: int,
    want: Want,
) -> Iterator[MailEntry]:
    """Each keyed message of a stdlib mailbox (Maildir, MH), read bounded; ids are `prefix:container|folder@key`."""
    for key in keys:
        source_id = f"{prefix}:{container}|{folder}@{key}"
        if not want(source_id):
            yield skipped(source_id, container, folder, 0)
            continue
        try:
            with box.get_file(key) as fh:
                data = read_capped(fh, limit)  # type: ignore[arg-type]
        except (OSError, KeyError) as exc:
            yield unreadable(source_id, container, folder, f"unreadable: {exc}")
            continue
        if data is None:
            yield too_large(source_id, container, folder, limit + 1, limit)
        else:
            yield MailEntry(source_id, container, folder, "rfc822", data, len(data))

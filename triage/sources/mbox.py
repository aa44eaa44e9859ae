"""mbox files, streamed: one pass over the file, one message in memory at a time, never the whole file.

A message starts at a line beginning ``From `` at the start of the file or after an empty line (the rule the
stdlib `mailbox.mbox` applies). Lines are read with a length cap, so a hostile file made of one endless line
costs bounded memory too. The stable id of a message is its container id and the byte offset of its ``From ``
line; the separator line itself is not part of the message (as in `mailbox.mbox.get_bytes`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from triage.sources.entry import MailEntry, Want, skipped, too_large

_LINE_CAP = 64 * 1024
SNIFF = b"From "


def looks_like_mbox(head: bytes) -> bool:
    """An mbox begins with a ``From `` separator line followed by header lines."""
    if not head.startswith(SNIFF):
        return False
    first, _, rest = head.partition(b"\n")
    return b"\n" in head and b":" in rest[:1024] and len(first) < 1024


class _Current:
    """The message being collected; lives only inside iter_mbox."""

    def __init__(self, start: int, collect: bool) -> None:
        self.start = start
        self.collect = collect
        self.parts: list[bytes] = []
        self.length = 0
        self.oversize = False


def iter_mbox(
    fh: IO[bytes], *, id_prefix: str, container: str, limit: int, want: Want, folder: str = ""
) -> Iterator[MailEntry]:
    """Every message of the mbox stream `fh` (a file, or a member of a zip), in order."""
    pos = 0
    current: _Current | None = None
    at_line_start = True
    prev_blank = True
    while True:
        line = fh.readline(_LINE_CAP)
        if not line:
            break
        whole_line_start = at_line_start
        if whole_line_start and prev_blank and line.startswith(SNIFF):
            if current is not None:
                yield _finish(current, pos, id_prefix, container, folder, limit)
            current = _Current(pos, want(f"{id_prefix}@{pos}"))
        elif current is not None and current.collect and not current.oversize:
            if current.length + len(line) > limit + 2:  # + the separator's empty line, dropped at the end
                current.oversize = True
                current.parts = []
            else:
                current.parts.append(line)
                current.length += len(line)
        at_line_start = line.endswith(b"\n")
        prev_blank = whole_line_start and line in (b"\n", b"\r\n")
        pos += len(line)
    if current is not None:
        yield _finish(current, pos, id_prefix, container, folder, limit)


def _finish(current: _Current, end: int, id_prefix: str, container: str, folder: str, limit: int) -> MailEntry:
    source_id = f"{id_prefix}@{current.start}"
    size = end - current.start
    if not current.collect:
        return skipped(source_id, container, folder, size)
    if current.oversize:
        return too_large(source_id, container, folder, size, limit)
    data = b"".join(current.parts)
    # The empty line before the next separator belongs to the mbox format, not to the message.
    if data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n\n"):
        data = data[:-1]
    if len(data) > limit:
        return too_large(source_id, container, folder, size, limit)
    return MailEntry(source_id=source_id, container=container, folder=folder, kind="rfc822", data=data, size=size)

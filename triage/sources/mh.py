"""MH mailboxes (nmh, Sylpheed, Claws Mail), through the stdlib `mailbox.MH`: numbered files, nested folders.

The stable id is the directory, the folder path and the message number.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from triage.sources.entry import MailEntry, Want, read_capped, skipped, too_large, unreadable

_MAX_FOLDER_DEPTH = 16


def is_mh(path: Path) -> bool:
    """An MH folder keeps `.mh_sequences`; a bare directory of numbered files is left to the path walk."""
    return (path / ".mh_sequences").is_file()


def iter_mh(path: Path, *, limit: int, want: Want) -> Iterator[MailEntry]:
    root = mailbox.MH(str(path), factory=None, create=False)
    yield from _walk(root, str(path), "", limit, want, 0)


def _walk(box: mailbox.MH, container: str, folder: str, limit: int, want: Want, depth: int) -> Iterator[MailEntry]:
    try:
        keys = sorted(box.iterkeys())
    except OSError as exc:
        yield unreadable(f"mh:{container}|{folder}", container, folder, f"unreadable: {exc.strerror}")
        return
    here = Path(container) / folder
    for key in keys:
        if (here / str(key)).is_dir():
            continue  # a subfolder with a numeric name, which mailbox.MH lists as a message
        source_id = f"mh:{container}|{folder}@{key}"
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
    if depth >= _MAX_FOLDER_DEPTH:
        return
    try:
        names = sorted(box.list_folders())
    except OSError:
        return
    for name in names:
        try:
            sub = box.get_folder(name)
        except (OSError, mailbox.Error):
            continue
        yield from _walk(sub, container, f"{folder}/{name}" if folder else name, limit, want, depth + 1)

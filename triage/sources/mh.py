"""MH mailboxes (nmh, Sylpheed, Claws Mail), through the stdlib `mailbox.MH`: numbered files, nested folders.

The stable id is the directory, the folder path and the message number.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from triage.sources.entry import MailEntry, Want, read_mailbox_messages, unreadable

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
    # a subfolder with a numeric name is listed by mailbox.MH as a message too
    messages = [key for key in keys if not (here / str(key)).is_dir()]
    yield from read_mailbox_messages(
        box, messages, prefix="mh", container=container, folder=folder, limit=limit, want=want
    )
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

"""Maildir (and Maildir++ folders), through the stdlib `mailbox.Maildir`.

The stable id is the directory, the folder and the Maildir key (the unique part of the file name, which does not
change when a client sets flags). Each message is read with a size cap.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from triage.sources.entry import MailEntry, Want, read_mailbox_messages, unreadable


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def iter_maildir(path: Path, *, limit: int, want: Want) -> Iterator[MailEntry]:
    root = mailbox.Maildir(str(path), factory=None, create=False)
    yield from _folder(root, str(path), "", limit, want)
    try:
        folders = sorted(root.list_folders())
    except OSError:
        folders = []
    for name in folders:
        try:
            sub = root.get_folder(name)
        except (OSError, mailbox.Error):
            continue
        yield from _folder(sub, str(path), name, limit, want)


def _folder(box: mailbox.Maildir, container: str, folder: str, limit: int, want: Want) -> Iterator[MailEntry]:
    try:
        keys = sorted(box.iterkeys())
    except OSError as exc:
        yield unreadable(f"maildir:{container}|{folder}", container, folder, f"unreadable: {exc.strerror}")
        return
    yield from read_mailbox_messages(
        box, keys, prefix="maildir", container=container, folder=folder, limit=limit, want=want
    )

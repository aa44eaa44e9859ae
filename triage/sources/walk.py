"""Every message under the paths given to a sweep: files, directories, Maildir, MH, mbox, PST, .msg, zip.

A directory that is a Maildir or an MH folder is read as one; any other directory is walked and each file
classified by content (`kinds.classify`). A file named explicitly that is no known format is an error entry,
never silently dropped; inside a walked directory such files are ignored (exports hold other things too).
Paths are made absolute so ids stay the same when a sweep is resumed from another working directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from triage.sources.archives import iter_zip
from triage.sources.entry import MailEntry, Want, read_capped, skipped, too_large, unreadable
from triage.sources.kinds import SNIFF_BYTES, FileKind, LooksLikeEmail, classify
from triage.sources.maildir import is_maildir, iter_maildir
from triage.sources.mbox import iter_mbox
from triage.sources.mh import is_mh, iter_mh
from triage.sources.pst import Opener, iter_pst, open_pst


def iter_mail(
    paths: Sequence[str | Path],
    *,
    limit: int,
    want: Want,
    looks_like_email: LooksLikeEmail,
    pst_opener: Opener = open_pst,
) -> Iterator[MailEntry]:
    for given in paths:
        path = Path(given).absolute()
        if path.is_dir():
            yield from _directory(path, limit, want, looks_like_email, pst_opener)
        elif path.is_file():
            yield from _file(path, limit, want, looks_like_email, pst_opener, explicit=True)
        else:
            yield unreadable(f"file:{path}", str(path), "", "unreadable: no such file or directory")


def total_bytes(paths: Sequence[str | Path]) -> int:
    """The bytes under the paths, for a progress estimate (a stat walk; no file is opened)."""
    total = 0
    for given in paths:
        path = Path(given)
        if path.is_file():
            total += _size(path)
            continue
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            dirnames[:] = [d for d in dirnames if d not in (".", "..")]
            total += sum(_size(Path(dirpath) / f) for f in filenames)
    return total


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() and not path.is_symlink() else 0
    except OSError:
        return 0


def _directory(path: Path, limit: int, want: Want, sniff: LooksLikeEmail, opener: Opener) -> Iterator[MailEntry]:
    if is_maildir(path):
        yield from iter_maildir(path, limit=limit, want=want)
        return
    if is_mh(path):
        yield from iter_mh(path, limit=limit, want=want)
        return
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        here = Path(dirpath)
        boxes = sorted(d for d in dirnames if is_maildir(here / d) or is_mh(here / d))
        for name in boxes:
            sub = here / name
            yield from (
                iter_maildir(sub, limit=limit, want=want) if is_maildir(sub) else iter_mh(sub, limit=limit, want=want)
            )
        # Maildir++ subfolders (".Sent") live inside their Maildir and are read with it.
        dirnames[:] = sorted(d for d in dirnames if d not in boxes and not d.startswith("."))
        for filename in sorted(filenames):
            file = here / filename
            if file.is_symlink() or not file.is_file():
                continue
            yield from _file(file, limit, want, sniff, opener, explicit=False)


def _file(
    path: Path, limit: int, want: Want, sniff: LooksLikeEmail, opener: Opener, *, explicit: bool
) -> Iterator[MailEntry]:
    container = str(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
            kind = classify(head, path.name, sniff)
            if kind is FileKind.MBOX:
                fh.seek(0)
                yield from iter_mbox(fh, id_prefix=f"mbox:{container}", container=container, limit=limit, want=want)
                return
            if kind is FileKind.ZIP:
                fh.seek(0)
                yield from iter_zip(
                    fh,
                    id_prefix=f"zip:{container}",
                    container=container,
                    limit=limit,
                    want=want,
                    looks_like_email=sniff,
                )
                return
            if kind is FileKind.PST:
                yield from iter_pst(container, limit=limit, want=want, opener=opener)
                return
            if kind is FileKind.OTHER:
                if explicit:
                    yield unreadable(f"file:{container}", container, "", "unparsable: not a message or mailbox")
                return
            source_id = f"file:{container}"
            if not want(source_id):
                yield skipped(source_id, container, "", _size(path))
                return
            fh.seek(0)
            data = read_capped(fh, limit)
    except OSError as exc:
        yield unreadable(f"file:{container}", container, "", f"unreadable: {exc.strerror or exc}")
        return
    if data is None:
        yield too_large(source_id, container, "", _size(path), limit)
        return
    yield MailEntry(source_id, container, "", "msg" if kind is FileKind.MSG else "rfc822", data, len(data))

"""Messages named on the command line: files, directories (walked, messages chosen by content), and stdin.

A file named explicitly is always scanned. Inside a directory, a file is taken when it is named `.eml` or
`.msg`, or when its first bytes look like a mail message — exports rarely keep extensions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_SNIFF_BYTES = 4096
_MESSAGE_SUFFIXES = frozenset({".eml", ".msg"})


@dataclass(frozen=True)
class Source:
    """One message to scan: where it came from and how to get its bytes."""

    name: str
    path: Path | None  # None for stdin
    size: int | None


def iter_sources(paths: list[str], looks_like_message: Callable[[bytes, str], bool]) -> Iterator[Source]:
    for given in paths:
        if given == "-":
            yield Source(name="-", path=None, size=None)
            continue
        path = Path(given)
        if path.is_dir():
            yield from _walk(path, looks_like_message)
        else:
            yield Source(name=given, path=path, size=_size(path))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _walk(top: Path, looks_like_message: Callable[[bytes, str], bool]) -> Iterator[Source]:
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if not path.is_file() or path.is_symlink():
                continue
            if path.suffix.lower() in _MESSAGE_SUFFIXES or _sniff(path, looks_like_message):
                yield Source(name=str(path), path=path, size=_size(path))


def _sniff(path: Path, looks_like_message: Callable[[bytes, str], bool]) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    return looks_like_message(head, path.name)


def read_source(source: Source, limit: int) -> bytes:
    """The message bytes, at most `limit` + 1 of them (the caller decides what an oversize input means)."""
    if source.path is None:
        return sys.stdin.buffer.read(limit + 1)
    with source.path.open("rb") as fh:
        return fh.read(limit + 1)

"""Zip files of mailbox exports: .eml/.msg members, mbox members (streamed out of the zip), nested zips.

Every member is read with a cap; an mbox member is streamed, so a zipped 10 GB mbox costs one message of
memory. Nesting is bounded; an encrypted member becomes an error entry (a sweep has no password for it).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import IO

from triage.sources.entry import Kind, MailEntry, Want, skipped, too_large, unreadable
from triage.sources.kinds import SNIFF_BYTES, FileKind, LooksLikeEmail, classify
from triage.sources.mbox import iter_mbox

_MAX_NESTING = 2
_MAX_MEMBERS = 100_000


def iter_zip(
    fh: IO[bytes], *, id_prefix: str, container: str, limit: int, want: Want, looks_like_email: LooksLikeEmail
) -> Iterator[MailEntry]:
    yield from _zip(fh, id_prefix, container, limit, want, looks_like_email, 0)


def _zip(
    fh: IO[bytes], prefix: str, container: str, limit: int, want: Want, sniff: LooksLikeEmail, depth: int
) -> Iterator[MailEntry]:
    try:
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()[:_MAX_MEMBERS]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        yield unreadable(prefix, container, "", f"unparsable: not a readable zip: {exc}")
        return
    with zf:
        for info in infos:
            if info.is_dir():
                continue
            member_id = f"{prefix}!{info.filename}"
            folder = info.filename.rpartition("/")[0]
            if info.flag_bits & 0x1:
                yield unreadable(member_id, container, folder, "encrypted: zip member is password-protected")
                continue
            try:
                with zf.open(info) as member:
                    head = member.read(SNIFF_BYTES)
                kind = classify(head, info.filename, sniff)
                if kind is FileKind.MBOX:
                    with zf.open(info) as member:
                        yield from iter_mbox(
                            member, id_prefix=member_id, container=container, limit=limit, want=want, folder=folder
                        )
                    continue
                if kind is FileKind.OTHER or kind is FileKind.PST:
                    # A PST needs random access libpff cannot get from a zip stream: unpack it first.
                    if kind is FileKind.PST:
                        yield unreadable(
                            member_id, container, folder, "unsupported: a PST inside a zip; unzip it first"
                        )
                    continue
                if not want(member_id):
                    yield skipped(member_id, container, folder, info.compress_size)
                    continue
                if info.file_size > limit:
                    yield too_large(member_id, container, folder, info.file_size, limit)
                    continue
                with zf.open(info) as member:
                    data = member.read(limit + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
                yield unreadable(member_id, container, folder, f"unparsable: zip member unreadable: {exc}")
                continue
            if len(data) > limit:
                yield too_large(member_id, container, folder, len(data), limit)
            elif kind is FileKind.ZIP:
                if depth + 1 >= _MAX_NESTING:
                    yield unreadable(member_id, container, folder, "limit_depth: zip nested too deep")
                else:
                    yield from _zip(io.BytesIO(data), member_id, container, limit, want, sniff, depth + 1)
            else:
                entry_kind: Kind = "msg" if kind is FileKind.MSG else "rfc822"
                yield MailEntry(member_id, container, folder, entry_kind, data, info.compress_size)

"""mbox streaming: ids are byte offsets, messages come back exactly, caps hold on hostile files."""

from __future__ import annotations

import io

from conftest import make_message

from triage.sources.entry import want_all
from triage.sources.mbox import iter_mbox, looks_like_mbox


def _mbox(messages: list[bytes], newline: bytes = b"\n") -> tuple[bytes, list[int]]:
    out = bytearray()
    offsets = []
    for raw in messages:
        offsets.append(len(out))
        out += b"From someone@example.com Mon Nov 16 10:00:00 2026" + newline
        out += raw.replace(b"\r\n", newline)
        if not raw.endswith(b"\n"):
            out += newline
        out += newline
    return bytes(out), offsets


def test_every_message_once_with_offsets() -> None:
    msgs = [make_message(subject=f"件名{i}", body=f"本文 {i}\n>From the archive\n") for i in range(3)]
    data, offsets = _mbox(msgs)
    entries = list(iter_mbox(io.BytesIO(data), id_prefix="mbox:x", container="x", limit=1 << 20, want=want_all))
    assert [e.source_id for e in entries] == [f"mbox:x@{o}" for o in offsets]
    assert [e.kind for e in entries] == ["rfc822"] * 3
    for entry, raw in zip(entries, msgs, strict=True):
        assert entry.data == raw.replace(b"\r\n", b"\n")
    assert sum(e.size for e in entries) == len(data)


def test_from_inside_a_paragraph_does_not_split() -> None:
    raw = b"From: a@example.com\nSubject: x\n\nline one\nFrom here on it is body\n"
    data, _ = _mbox([raw])
    entries = list(iter_mbox(io.BytesIO(data), id_prefix="m", container="m", limit=1 << 20, want=want_all))
    assert len(entries) == 1 and b"From here on" in entries[0].data


def test_crlf_mbox() -> None:
    msgs = [make_message(subject="a"), make_message(subject="b")]
    data, offsets = _mbox(msgs, newline=b"\r\n")
    entries = list(iter_mbox(io.BytesIO(data), id_prefix="m", container="m", limit=1 << 20, want=want_all))
    assert [e.source_id for e in entries] == [f"m@{o}" for o in offsets]
    assert entries[0].data == msgs[0]


def test_resume_skips_without_keeping_bytes() -> None:
    data, offsets = _mbox([make_message(subject=str(i)) for i in range(3)])
    done = {f"m@{offsets[1]}"}
    entries = list(
        iter_mbox(io.BytesIO(data), id_prefix="m", container="m", limit=1 << 20, want=lambda s: s not in done)
    )
    assert [e.kind for e in entries] == ["rfc822", "done", "rfc822"]
    assert entries[1].data == b""


def test_oversize_message_and_endless_line_are_reported_not_read() -> None:
    huge = b"From: a@example.com\nSubject: big\n\n" + b"A" * 200_000  # one line, no newline at all
    small = make_message(subject="small")
    data, _ = _mbox([huge, small])
    entries = list(iter_mbox(io.BytesIO(data), id_prefix="m", container="m", limit=10_000, want=want_all))
    assert [e.kind for e in entries] == ["error", "rfc822"]
    assert entries[0].error.startswith("too_large") and entries[0].data == b""


def test_sniff() -> None:
    data, _ = _mbox([make_message()])
    assert looks_like_mbox(data[:4096])
    assert not looks_like_mbox(b"From: a@example.com\nSubject: x\n\n")
    assert not looks_like_mbox(b"From nowhere")

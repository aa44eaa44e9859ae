"""MimeUnpacker: parts become children, nested and forwarded messages are handed over by identity, budgets hold."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from triage.engine import Engine
from triage.ingest.eml import ParsedEmail, parse_email
from triage.ingest.forward import find_original
from triage.model import NoteKind
from triage.plugins import DeadlineExceeded, Unpacker
from triage.unpack.mime import MimeUnpacker

from ._fake_ctx import FakeContext, view

INNER = (
    b"From: Attacker <attacker@evil.example>\r\nSubject: =?ISO-2022-JP?B?GyRCMnE1RBsoQg==?=\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nopen the file\r\n"
)


def _message(*parts: bytes, subject: str = "FW: sample") -> bytes:
    body = b"".join(b"--B\r\n" + p + b"\r\n" for p in parts) + b"--B--\r\n"
    return (
        f"From: analyst@example.go.jp\r\nTo: csirt@example.go.jp\r\nSubject: {subject}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
    ).encode() + body


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "転送します".encode()
PDF = (
    b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"%PDF-1.4 test")
)
RFC822 = b"Content-Type: message/rfc822\r\n\r\n" + INNER


def _eml(name: str) -> bytes:
    return (
        f'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(INNER)


class RecordingContext(FakeContext):
    def __init__(self, parsed: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parsed = parsed
        self.messages: list[tuple[str, Any]] = []

    def add_message(self, artifact_id: str, parsed: Any) -> None:
        self.messages.append((artifact_id, parsed))

    def parsed_for(self, artifact_id: str) -> Any:
        return self._parsed


def _unpack(raw: bytes, ctx: FakeContext | None = None) -> tuple[list[Any], FakeContext]:
    ctx = ctx or RecordingContext()
    children = list(MimeUnpacker().unpack(view(raw, name="mail.eml", types=("email",)), ctx))
    return children, ctx


def test_is_an_unpacker_for_email() -> None:
    unpacker: Unpacker = MimeUnpacker()
    assert unpacker.name == "mime"
    assert unpacker.accepts == frozenset({"email"})
    assert unpacker.emits == frozenset()


def test_parts_become_children() -> None:
    children, ctx = _unpack(_message(TEXT, PDF, RFC822))
    assert [(c.name, c.declared_type) for c in children] == [
        (None, "text/plain"),
        ("a.pdf", "application/pdf"),
        (None, "message/rfc822"),
    ]
    assert children[0].data == "転送します".encode()
    assert dict(children[0].meta) == {"mime_path": "1", "charset": "utf-8", "body": True}
    assert children[1].data == b"%PDF-1.4 test"
    assert dict(children[1].meta) == {"mime_path": "2", "disposition": "attachment"}
    assert children[0].parsed is None and children[1].parsed is None
    assert isinstance(children[2].parsed, ParsedEmail)
    assert children[2].parsed.info.from_ == "attacker@evil.example"
    assert parse_email(children[2].data).info.subject == "会議"
    assert isinstance(ctx, RecordingContext) and len(ctx.messages) == 1


def test_reuses_the_parsed_message_and_hands_over_the_forwarded_original() -> None:
    raw = _message(TEXT, _eml("original.eml"), _eml("second.eml"))
    parsed = parse_email(raw)
    original = find_original(parsed)
    assert original is not None and original.part_path == "2"
    ctx = RecordingContext(parsed=parsed)
    children, _ = _unpack(raw, ctx)
    assert ctx.messages == [("a1", parsed)]
    assert children[1].parsed is original.parsed  # identity: the engine recognises the original this way
    assert children[2].parsed is None  # not the original: parsed later, when the walk reaches it


def test_rfc822_original_is_the_same_object_as_the_nested_message() -> None:
    raw = _message(TEXT, RFC822)
    parsed = parse_email(raw)
    original = find_original(parsed)
    assert original is not None
    children, _ = _unpack(raw, RecordingContext(parsed=parsed))
    assert children[1].parsed is original.parsed is parsed.parts[1].message


def test_part_over_the_size_budget_is_unreadable() -> None:
    children, ctx = _unpack(_message(TEXT, PDF), RecordingContext(max_child_size=5))
    big = children[1]
    assert big.data is None
    assert big.declared_size == len(b"%PDF-1.4 test")
    assert big.meta["unreadable"] == "exceeds the size budget"
    assert big.name == "a.pdf"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_checks_the_deadline_for_every_part() -> None:
    ctx = RecordingContext(deadline_after=1)
    with pytest.raises(DeadlineExceeded):
        _unpack(_message(TEXT, PDF, RFC822), ctx)


def test_engine_unwraps_a_forward_through_the_unpacker(engine: Engine) -> None:
    report = engine.scan(_message(TEXT, RFC822))
    assert "FORWARDED_ORIGINAL" in report.finding_ids()
    assert report.forwarded_by is not None and report.forwarded_by.subject == "FW: sample"
    assert report.message.from_ == "attacker@evil.example"
    assert report.message.subject == "会議"
    assert report.message.artifact not in (None, report.artifacts[0].id)

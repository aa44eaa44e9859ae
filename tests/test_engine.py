"""The engine's walk, budget and failure handling, with small plugins written for the test."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import REPORT_KEYS, make_message, make_zip
from triage.config import Config, ConfigError, load_config, rules_dir
from triage.engine import Engine
from triage.model import Finding, Level, NoteKind, Report
from triage.plugins import ArtifactView, Child, PluginContext, Scope
from triage.registry import default_analyzers, default_unpackers
from triage.report.json import parse_json, render_json
from triage.scoring.table import parse_scoring_table


def _config(**limits: Any) -> Config:
    with (rules_dir() / "scoring.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    doc["symbols"]["TEST_SIGNAL"] = {"weight": 1.0, "group": "attachment"}
    config = load_config(overrides={"limits": limits} if limits else None)
    return replace(config, scoring=parse_scoring_table(doc, "test"))


class _Base:
    scope = Scope.ARTIFACT
    accepts = frozenset({"*"})
    emits = frozenset({"TEST_SIGNAL"})

    def setup(self, config: Config) -> None:
        pass


class Raises(_Base):
    name = "raises"

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        yield Finding("TEST_SIGNAL", target.id, self.name, evidence=("partial",))
        raise ValueError("boom")


class Signals(_Base):
    name = "signals"

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if target.artifact.depth == 0:
            yield Finding("TEST_SIGNAL", target.id, self.name, evidence=("ok",))


class LoopsUntilDeadline(_Base):
    name = "loops"

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        while True:
            ctx.check_deadline()
        yield  # pragma: no cover


class MessageScope(_Base):
    name = "message_scope"
    scope = Scope.MESSAGE

    def analyze(self, target: Any, ctx: PluginContext) -> Iterable[Finding]:
        yield Finding("TEST_SIGNAL", target.artifact, self.name, evidence=(target.info.subject or "",))


class Fanout:
    """An unpacker that yields many children from any text part (to test max_files)."""

    name = "fanout"
    accepts = frozenset({"text"})
    emits: frozenset[str] = frozenset()

    def setup(self, config: Config) -> None:
        pass

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        for i in range(100):
            yield Child(data=b"x" * 10, name=f"child{i}.bin")


def _engine(*analyzers: Any, unpackers: Any = None, **limits: Any) -> Engine:
    return Engine(
        _config(**limits),
        analyzers=[*default_analyzers(), *analyzers],
        unpackers=unpackers if unpackers is not None else default_unpackers(),
    )


def _note_kinds(report: Report) -> set[NoteKind]:
    return {n.kind for n in report.notes}


def test_clean_message_is_clean_and_complete(engine: Engine) -> None:
    report = engine.scan(make_message(subject="会議の件", body="明日の会議は10時からです。"), name="m.eml")
    assert report.verdict.level is Level.CLEAN
    assert report.verdict.complete
    assert report.message.subject == "会議の件"
    assert report.artifacts[0].types[0] == "email" or "email" in report.artifacts[0].types
    assert report.notes == ()


def test_crash_becomes_a_note_and_discards_partial_findings() -> None:
    report = _engine(Raises(), Signals()).scan(make_message())
    crashed = [n for n in report.notes if n.kind is NoteKind.CRASHED]
    assert crashed and all(n.component == "raises" for n in crashed)
    assert "ValueError" in crashed[0].detail
    evidence = [f.evidence for f in report.findings if f.id == "TEST_SIGNAL"]
    assert ("ok",) in evidence  # the other plugin's finding survives
    assert ("partial",) not in evidence  # the crashing call's partial finding is discarded
    assert not report.verdict.complete
    assert report.verdict.level is not Level.CLEAN


def test_plugin_looping_until_deadline_gets_a_timeout_note() -> None:
    report = _engine(LoopsUntilDeadline(), max_seconds=0.3).scan(
        make_message(attachments=[("a.txt", b"hello", "text/plain")])
    )
    assert NoteKind.TIMEOUT in _note_kinds(report)
    assert "LIMIT_EXCEEDED" in report.finding_ids()
    assert not report.verdict.complete


def test_message_scope_analyzer_sees_the_message() -> None:
    report = _engine(MessageScope()).scan(make_message(subject="歓迎会のお知らせ"))
    found = [f for f in report.findings if f.analyzer == "message_scope"]
    assert found and found[0].evidence == ("歓迎会のお知らせ",)
    assert found[0].artifact == report.message.artifact


def test_depth_limit() -> None:
    data = b"innermost"
    for level in range(5):
        data = make_zip([(f"level{level}.zip" if level else "inner.txt", data)])
    report = _engine(max_depth=3).scan(make_message(attachments=[("outer.zip", data, "application/zip")]))
    assert NoteKind.LIMIT_DEPTH in _note_kinds(report)
    assert "LIMIT_EXCEEDED" in report.finding_ids()
    assert max(a.depth for a in report.artifacts) == 3
    assert not report.verdict.complete


def test_depth_five_nested_zip_is_walked_in_full(engine: Engine) -> None:
    data = b"innermost text"
    for level in range(5):
        data = make_zip([(f"level{level}.zip" if level else "inner.txt", data)])
    report = engine.scan(make_message(attachments=[("outer.zip", data, "application/zip")]))
    names = [a.name for a in report.artifacts]
    assert "inner.txt" in names
    assert report.verdict.complete
    assert report.verdict.level is Level.CLEAN


def test_files_limit() -> None:
    report = _engine(unpackers=[*default_unpackers(), Fanout()], max_files=20).scan(
        make_message(attachments=[("a.txt", b"hello", "text/plain")])
    )
    assert NoteKind.LIMIT_FILES in _note_kinds(report)
    assert len(report.artifacts) <= 20
    assert "LIMIT_EXCEEDED" in report.finding_ids()


def test_size_limit() -> None:
    big = make_zip([("big.bin", b"\0" * 200_000)])
    report = _engine(max_file_size=100_000).scan(make_message(attachments=[("big.zip", big, "application/zip")]))
    assert NoteKind.LIMIT_SIZE in _note_kinds(report)
    member = next(a for a in report.artifacts if a.name == "big.bin")
    assert member.sha256 is None and member.meta.get("unreadable")
    assert not report.verdict.complete


def test_total_size_limit() -> None:
    members = [(f"m{i}.bin", bytes([i]) * 60_000) for i in range(5)]
    report = _engine(max_total_size=200_000).scan(
        make_message(attachments=[("many.zip", make_zip(members), "application/zip")])
    )
    assert NoteKind.LIMIT_SIZE in _note_kinds(report)


def test_oversized_message_is_hashed_not_parsed() -> None:
    raw = make_message(body="x" * 5000)
    report = _engine(max_message_size=1000).scan(raw)
    assert NoteKind.LIMIT_SIZE in _note_kinds(report)
    assert report.artifacts[0].sha256 == report.input.sha256
    assert report.verdict.level is not Level.CLEAN


def test_undeclared_emit_fails_at_startup() -> None:
    class Undeclared(_Base):
        name = "undeclared"
        emits = frozenset({"NEVER_DECLARED"})

        def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
            return ()

    with pytest.raises(ConfigError, match="NEVER_DECLARED"):
        Engine(_config(), analyzers=[Undeclared()])


def test_non_message_input_is_still_analysed(engine: Engine) -> None:
    report = engine.scan(make_zip([("a.txt", b"hi")]), name="bare.zip")
    assert "zip" in report.artifacts[0].types
    assert [a.name for a in report.artifacts][1:] == ["a.txt"]


def test_garbage_input_does_not_crash(engine: Engine) -> None:
    for raw in (b"", b"\x00" * 100, b"From: \r\n\r\n", bytes(range(256)) * 10):
        report = engine.scan(raw)
        assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]


def test_json_round_trip(engine: Engine) -> None:
    raw = make_message(
        subject="件名\u202e",
        attachments=[("報告書\u202efdp.exe", b"MZ" + b"\0" * 100, "application/octet-stream")],
    )
    report = engine.scan(raw, name="rt.eml")
    text = render_json(report)
    assert "\u202e" not in text and "\\u202e" in text
    again = parse_json(text)
    assert again == report
    assert set(report.to_dict()) >= REPORT_KEYS


def test_gateway_scan_does_not_unwrap_forwards(engine: Engine) -> None:
    from triage.model import Envelope

    inner = make_message(subject="inner subject", sender="Attacker <a@evil.example>")
    raw = make_message(subject="Fwd: inner subject", body="FYI", attachments=[("fwd.eml", inner, "message/rfc822")])
    analyst = engine.scan(raw)
    assert analyst.message.subject == "inner subject"
    gateway = engine.scan(raw, envelope=Envelope(client_ip="192.0.2.1", mail_from="taro@example.co.jp"))
    assert gateway.message.subject == "Fwd: inner subject"
    assert gateway.forwarded_by is None
    assert "FORWARDED_ORIGINAL" not in gateway.finding_ids()


def test_inline_forward_keeps_the_real_headers(engine: Engine) -> None:
    body = (
        "ご確認ください。\n\n---------- Forwarded message ---------\nFrom: 総務課 <soumu@gov-example.example>\n"
        "Date: Mon, 16 Nov 2026 09:00:00 +0900\nSubject: 会議出席報告\nTo: taro@example.co.jp\n\n本文\n"
    )
    report = engine.scan(make_message(subject="Fwd: 会議出席報告", body=body, sender="Mallory <m@attacker.example>"))
    assert report.message.from_ == "m@attacker.example"
    assert report.forwarded_by is None
    fwd = [f for f in report.findings if f.id == "FORWARDED_ORIGINAL"]
    assert fwd and any("soumu@gov-example.example" in e for e in fwd[0].evidence)


def test_opaque_container_is_never_clean(engine: Engine) -> None:
    rar = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 64
    report = engine.scan(make_message(attachments=[("a.rar", rar, "application/x-rar-compressed")]))
    assert NoteKind.UNPARSABLE in _note_kinds(report)
    assert report.verdict.level is not Level.CLEAN
    assert not report.verdict.complete


def test_input_starting_with_a_header_is_read_as_a_message_even_when_the_sniff_fails() -> None:
    # A crafted line right after the first header defeats the content sniff (which wants two known fields): the
    # input was handed over as a message, so it is still parsed as one, not typed "html" and left unanalysed.
    raw = (
        b'From: "Ministry <info@mofa-example.jp>\r\nthis line is not a header\r\nTo: x@example.jp\r\n'
        b"Content-Type: text/html\r\n\r\n<html><body>hello</body></html>\r\n"
    )
    report = Engine().scan(raw)
    assert "email" in report.artifacts[0].types
    assert report.message.from_ is not None
    # while a bare HTML page is still what it is
    assert "email" not in Engine().scan(b"<html><body>hi</body></html>").artifacts[0].types

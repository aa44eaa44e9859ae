"""X-Triage-* headers: folding, the subject prefix, and rewriting a message without touching its body."""

from __future__ import annotations

import email
import email.header
import email.policy

from tests.conftest import make_message
from triage.model import Finding, InputInfo, Iocs, Level, MessageInfo, Report, Score, Verdict
from triage.report.headers import (
    LINE_WIDTH,
    error_header,
    fold,
    is_triage_header,
    prefixed_subject,
    rewrite_message,
    verdict_headers,
)


def _report(ids: list[str], level: Level = Level.MALICIOUS, complete: bool = True) -> Report:
    return Report(
        input=InputInfo(name=None, size=0, sha256=""),
        message=MessageInfo(),
        artifacts=(),
        findings=tuple(Finding(id=i, artifact="a0", analyzer="t", weight=float(n)) for n, i in enumerate(ids)),
        notes=(),
        iocs=Iocs(),
        score=Score(total=12.25),
        verdict=Verdict(level=level, complete=complete),
    )


def test_verdict_headers_heaviest_first_and_folded() -> None:
    ids = [f"SOME_RATHER_LONG_FINDING_ID_{n}" for n in range(10)]
    headers = dict(verdict_headers(_report(ids, Level.SUSPICIOUS, complete=False)))
    assert headers["X-Triage-Verdict"] == "suspicious; incomplete"
    assert headers["X-Triage-Score"] == "12.2" or headers["X-Triage-Score"] == "12.3"
    lines = headers["X-Triage-Findings"].split("\n")
    assert len(lines) > 1 and all(line.startswith(" ") for line in lines[1:])
    assert len("X-Triage-Findings: " + lines[0]) <= LINE_WIDTH
    assert all(len(line) <= LINE_WIDTH for line in lines)
    unfolded = headers["X-Triage-Findings"].replace("\n ", " ").split(", ")
    assert unfolded[0] == "SOME_RATHER_LONG_FINDING_ID_9"  # heaviest first
    assert sorted(unfolded) == sorted(ids)


def test_no_findings_says_none() -> None:
    assert dict(verdict_headers(_report([], Level.CLEAN)))["X-Triage-Findings"] == "none"


def test_fold_single_word() -> None:
    assert fold("X-Triage-Findings", ["ONE"]) == "ONE"


def test_error_header_is_one_safe_line() -> None:
    name, value = error_header("crashed", "boom\r\nX-Injected: yes\u202e")
    assert name == "X-Triage-Error"
    assert "\n" not in value and "\r" not in value and "\u202e" not in value
    assert value.startswith("crashed; ")


def test_is_triage_header() -> None:
    assert is_triage_header("x-TRIAGE-verdict")
    assert not is_triage_header("X-Triaged")


def test_subject_prefix_ascii_and_japanese() -> None:
    assert prefixed_subject("Hello", "[SUSPICIOUS] ") == "[SUSPICIOUS] Hello"
    assert prefixed_subject("[SUSPICIOUS] Hello", "[SUSPICIOUS] ") == "[SUSPICIOUS] Hello"
    encoded = "=?ISO-2022-JP?B?GyRCJDMkcxsoQg==?="
    value = prefixed_subject(encoded, "[要注意] ")
    assert value.isascii()
    decoded = str(email.header.make_header(email.header.decode_header(value)))
    assert decoded == "[要注意] こん"
    assert prefixed_subject(value, "[要注意] ") == value


def test_rewrite_message_keeps_body_and_line_endings() -> None:
    raw = make_message(headers=[("X-Triage-Verdict", "clean"), ("X-Triage-Score", "0")], body="X-Triage-Verdict: body")
    out = rewrite_message(raw, [("X-Triage-Verdict", "malicious"), ("X-Triage-Findings", "A,\n B")], "[M] ")
    head, body = out.split(b"\r\n\r\n", 1)
    assert body == raw.split(b"\r\n\r\n", 1)[1]
    assert b"\n" not in head.replace(b"\r\n", b"")
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg.get_all("X-Triage-Verdict") == ["malicious"]
    assert msg["X-Triage-Score"] is None
    assert msg["X-Triage-Findings"] == "A, B"
    assert msg["Subject"] == "[M] テスト"


def test_rewrite_message_with_mbox_from_line_and_lf() -> None:
    raw = b"From sender@example.org Mon Nov 16 10:00:00 2026\nSubject: hi\nx-triage-verdict: clean\n\nbody\n"
    out = rewrite_message(raw, [("X-Triage-Verdict", "clean")])
    assert out == b"From sender@example.org Mon Nov 16 10:00:00 2026\nSubject: hi\nX-Triage-Verdict: clean\n\nbody\n"


def test_rewrite_message_without_body() -> None:
    out = rewrite_message(b"Subject: only headers", [("X-Triage-Verdict", "clean")], "[S] ")
    assert out.startswith(b"Subject: [S] only headers")
    assert b"X-Triage-Verdict: clean" in out

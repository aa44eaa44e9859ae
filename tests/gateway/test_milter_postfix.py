"""`triage milter` behind a real Postfix: what arrives in the Maildir, what is held, what the SMTP client is told.

Policy here: clean/suspicious tagged, malicious quarantined (hold queue), on_error/on_timeout accept with
X-Triage-Error, a 4 s hard deadline. Failures are injected through the milter's --engine-factory with an engine
that fails when a message asks for it (tests/gateway/_faults.py).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import threading
import time
import uuid

import pytest

from tests.conftest import ROOT, make_message

from ._postfix import DOMAIN, Milter, Postfix

SITE = """
[gateway]
deadline_seconds = 4.0
workers = 2
worker_memory_mb = 1024
subject_prefix = { suspicious = "[SUSPICIOUS] ", malicious = "[MALICIOUS] " }
"""
RCPT = f"hanako@{DOMAIN}"


@pytest.fixture(scope="module")
def milter(postfix: Postfix, milter_factory: list[Milter]) -> Milter:
    instance = Milter(postfix, SITE)
    instance.start()
    milter_factory.append(instance)
    return instance


def _message(marker: str, *, headers: list[tuple[str, str]] | None = None, body: str = "本文です。") -> bytes:
    return make_message(
        subject=f"打合せの件 {marker}",
        body=body,
        headers=[("X-Marker", marker), *(headers or [])],
    ).replace(b"<test@example.co.jp>", f"<{marker}@example.co.jp>".encode())


def _headers(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _send(postfix: Postfix, raw: bytes) -> None:
    with postfix.smtp() as smtp:
        smtp.sendmail("sender@example.org", [RCPT], raw)


def _marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def _log_events(milter: Milter) -> list[dict[str, object]]:
    return [json.loads(line) for line in milter.log().splitlines() if line.startswith("{")]


def test_clean_mail_delivered_with_headers_and_forged_verdict_stripped(postfix: Postfix, milter: Milter) -> None:
    marker = _marker()
    forged = [("X-Triage-Verdict", "clean"), ("X-Triage-Score", "0.0"), ("x-triage-findings", "none")]
    _send(postfix, _message(marker, headers=forged))
    delivered = postfix.delivered(marker.encode())
    assert delivered is not None, postfix.log()[-2000:]
    msg = _headers(delivered)
    assert msg.get_all("X-Triage-Verdict") == ["clean"]  # ours only: the forged one is gone
    scores = msg.get_all("X-Triage-Score")
    assert len(scores) == 1  # exactly one: ours
    float(scores[0])
    findings = msg.get_all("X-Triage-Findings")
    assert len(findings) == 1
    assert msg["Subject"] == f"打合せの件 {marker}"  # clean: no prefix
    assert "本文です。" in msg.get_body().get_content()
    message_id = f"<{marker}@example.co.jp>"
    event = next(e for e in _log_events(milter) if e.get("event") == "message" and e.get("message_id") == message_id)
    assert event["verdict"] == "clean" and event["action"] == "tag" and event["removed_headers"] == 3
    assert event["queue_id"] and isinstance(event["duration_ms"], float)


def test_malicious_sample_is_held_not_delivered(postfix: Postfix, milter: Milter) -> None:
    raw = (ROOT / "samples" / "05_rlo_exe.eml").read_bytes()
    message_id = b"a7c1e0f2-5b3d-4e88-9f10-20260216164809"
    _send(postfix, raw)
    end = time.monotonic() + 10
    while not postfix.held(message_id) and time.monotonic() < end:
        time.sleep(0.1)
    assert postfix.held(message_id), postfix.log()[-2000:]
    assert postfix.delivered(message_id, timeout=1) is None
    assert "milter triggers HOLD action" in postfix.log()


def test_several_messages_in_one_session_each_get_their_own_result(postfix: Postfix, milter: Milter) -> None:
    first, second = _marker(), _marker()
    malicious = (ROOT / "samples" / "01_welcome_party_zip_exe.eml").read_bytes()
    with postfix.smtp() as smtp:
        smtp.sendmail("sender@example.org", [RCPT], _message(first))
        smtp.sendmail("sender@example.org", [RCPT], malicious)
        smtp.sendmail("sender@example.org", [RCPT], _message(second, headers=[("X-Triage-Verdict", "clean")]))
    for marker in (first, second):
        delivered = postfix.delivered(marker.encode())
        assert delivered is not None
        assert _headers(delivered).get_all("X-Triage-Verdict") == ["clean"]
    # the malicious one in the middle was held; its verdict did not leak into the next message's
    events = [e for e in _log_events(milter) if e.get("event") == "message"][-3:]
    assert [e["action"] for e in events] == ["tag", "quarantine", "tag"]
    assert len({e["queue_id"] for e in events}) == 3


@pytest.mark.parametrize("fault", ["raise", "exit", "memory"])
def test_engine_failure_accepts_with_error_header(postfix: Postfix, milter: Milter, fault: str) -> None:
    marker = _marker()
    _send(postfix, _message(marker, headers=[("X-Test-Fault", fault), ("X-Triage-Error", "forged")]))
    delivered = postfix.delivered(marker.encode())
    assert delivered is not None, milter.log()[-2000:]
    msg = _headers(delivered)
    kind = "memory" if fault == "memory" else "crashed"
    assert msg["X-Triage-Error"].startswith(kind), msg["X-Triage-Error"]
    assert len(msg.get_all("X-Triage-Error")) == 1
    assert msg["X-Triage-Verdict"] is None


def test_engine_timeout_accepts_with_error_header_and_keeps_serving(postfix: Postfix, milter: Milter) -> None:
    slow, after = _marker(), _marker()
    _send(postfix, _message(slow, headers=[("X-Test-Fault", "sleep")]))
    delivered = postfix.delivered(slow.encode())
    assert delivered is not None
    assert _headers(delivered)["X-Triage-Error"].startswith("timeout")
    _send(postfix, _message(after))
    delivered = postfix.delivered(after.encode())
    assert delivered is not None and _headers(delivered)["X-Triage-Verdict"] == "clean"


def test_killing_a_worker_mid_message_loses_nothing(postfix: Postfix, milter: Milter) -> None:
    slow, after = _marker(), _marker()
    before = set(milter.worker_pids())
    assert before, "no worker processes found"
    sender = threading.Thread(target=_send, args=(postfix, _message(slow, headers=[("X-Test-Fault", "sleep")])))
    sender.start()
    time.sleep(1.0)  # the message is now inside a worker, which sleeps
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    sender.join(timeout=30)
    delivered = postfix.delivered(slow.encode())
    assert delivered is not None
    assert _headers(delivered)["X-Triage-Error"].startswith("crashed")
    _send(postfix, _message(after))
    delivered = postfix.delivered(after.encode())
    assert delivered is not None and _headers(delivered)["X-Triage-Verdict"] == "clean"
    assert set(milter.worker_pids()).isdisjoint(before)


def test_30_mb_message(postfix: Postfix, milter: Milter) -> None:
    marker = _marker()
    payload = os.urandom(22 * 1024 * 1024)  # base64 makes it ~30 MB on the wire
    raw = make_message(
        subject=f"big {marker}",
        headers=[("X-Marker", marker)],
        attachments=[("data.bin", payload, "application/octet-stream")],
    )
    assert len(raw) > 30_000_000
    _send(postfix, raw)
    delivered = postfix.delivered(marker.encode(), timeout=60)
    assert delivered is not None
    msg = _headers(delivered)
    assert msg["X-Triage-Verdict"] is not None or msg["X-Triage-Error"] is not None
    attachment = next(msg.iter_attachments())
    assert attachment.get_content() == payload


def test_suspicious_subject_prefixed(postfix: Postfix, milter: Milter) -> None:
    raw = (ROOT / "samples" / "11_spoofed_ministry_display_name.eml").read_bytes()
    marker = b"11_spoofed"
    raw = raw.replace(b"\nSubject:", b"\nX-Marker: " + marker + b"\nSubject:", 1)
    _send(postfix, raw)
    delivered = postfix.delivered(marker)
    assert delivered is not None
    msg = _headers(delivered)
    assert msg["X-Triage-Verdict"].startswith("suspicious")
    assert str(msg["Subject"]).startswith("[SUSPICIOUS] ")

"""`triage milter` behind Postfix with a strict policy: reject malicious mail, tempfail when no verdict, refuse to
buffer what is over the size limit, and drain in-flight messages on SIGTERM."""

from __future__ import annotations

import email
import email.policy
import signal
import smtplib
import threading
import time
import uuid

import pytest

from tests.conftest import ROOT, make_message

from ._postfix import DOMAIN, Milter, Postfix

SITE = """
[gateway]
malicious = "reject"
reject_reason = "Refused by triage test policy"
on_error = "tempfail"
on_timeout = "accept"
on_too_large = "tempfail"
max_message_size = 2000000
deadline_seconds = 3.0
workers = 2
"""
RCPT = f"hanako@{DOMAIN}"


@pytest.fixture(scope="module")
def milter(postfix: Postfix, milter_factory: list[Milter]) -> Milter:
    instance = Milter(postfix, SITE)
    instance.start()
    milter_factory.append(instance)
    return instance


def _marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def test_malicious_rejected_with_5_7_1(postfix: Postfix, milter: Milter) -> None:
    raw = (ROOT / "samples" / "05_rlo_exe.eml").read_bytes()
    with postfix.smtp() as smtp, pytest.raises(smtplib.SMTPDataError) as info:
        smtp.sendmail("sender@example.org", [RCPT], raw)
    assert info.value.smtp_code == 550
    assert b"5.7.1" in info.value.smtp_error and b"Refused by triage test policy" in info.value.smtp_error


def test_crash_tempfails_so_the_sender_keeps_the_mail(postfix: Postfix, milter: Milter) -> None:
    marker = _marker()
    raw = make_message(subject=marker, headers=[("X-Test-Fault", "raise")])
    with postfix.smtp() as smtp, pytest.raises(smtplib.SMTPDataError) as info:
        smtp.sendmail("sender@example.org", [RCPT], raw)
    assert info.value.smtp_code == 451 and b"4.7.1" in info.value.smtp_error
    assert postfix.delivered(marker.encode(), timeout=1) is None


def test_over_max_size_gets_the_too_large_policy(postfix: Postfix, milter: Milter) -> None:
    raw = make_message(subject="big", attachments=[("a.bin", b"\0" * 3_000_000, "application/octet-stream")])
    with postfix.smtp() as smtp, pytest.raises(smtplib.SMTPDataError) as info:
        smtp.sendmail("sender@example.org", [RCPT], raw)
    assert info.value.smtp_code == 451


def test_sigterm_drains_in_flight_message_and_exits(postfix: Postfix, milter: Milter) -> None:
    marker = _marker()
    raw = make_message(subject=marker, headers=[("X-Marker", marker), ("X-Test-Fault", "sleep")])
    replies: list[object] = []

    def send() -> None:
        try:
            with postfix.smtp() as smtp:
                replies.append(smtp.sendmail("sender@example.org", [RCPT], raw))
        except smtplib.SMTPException as exc:
            replies.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.0)  # the message is being scanned (the worker sleeps)
    assert milter.proc is not None
    milter.proc.send_signal(signal.SIGTERM)
    milter.proc.wait(timeout=10)
    sender.join(timeout=30)
    assert replies == [{}], replies  # accepted: the in-flight scan ended with on_timeout = accept
    delivered = postfix.delivered(marker.encode())
    assert delivered is not None
    msg = email.message_from_bytes(delivered, policy=email.policy.default)
    assert msg["X-Triage-Error"].startswith("timeout")
    assert b'"event": "stop"' in milter.log_path.read_bytes()

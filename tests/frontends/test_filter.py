"""`triage filter`: stdin to stdout with X-Triage-* headers, exit status per verdict, the mail never lost."""

from __future__ import annotations

import email
import email.policy
import io
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, make_message
from triage.frontends.filter import filter_message

FAULTS = "gateway._faults:make_engine"


def _body(raw: bytes) -> bytes:
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    return raw.split(sep, 1)[1]


def _run(raw: bytes, **kwargs: object) -> tuple[int, bytes]:
    out = io.BytesIO()
    status = filter_message(io.BytesIO(raw), out, **kwargs)  # type: ignore[arg-type]
    return status, out.getvalue()


def test_malicious_sample_tagged_forgery_removed_body_untouched() -> None:
    raw = (ROOT / "samples" / "05_rlo_exe.eml").read_bytes()
    forged = b"X-Triage-Verdict: clean\nX-TRIAGE-SCORE: 0\n"
    status, out = _run(forged + raw)
    assert status == 4
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg.get_all("X-Triage-Verdict") == ["malicious"]
    assert len(msg.get_all("X-Triage-Score")) == 1
    assert "FILENAME_RLO" in msg["X-Triage-Findings"]
    assert _body(out) == _body(raw)


def test_clean_exit_0() -> None:
    status, out = _run(make_message())
    assert status == 0
    assert email.message_from_bytes(out)["X-Triage-Verdict"] == "clean"


def test_engine_crash_still_writes_the_message_with_error_header() -> None:
    raw = make_message(headers=[("X-Test-Fault", "raise")])
    status, out = _run(raw, factory=FAULTS)
    assert status == 1
    msg = email.message_from_bytes(out)
    assert msg["X-Triage-Error"].startswith("crashed") and msg["X-Triage-Verdict"] is None
    assert _body(out) == _body(raw)


def test_too_large_passes_through_with_error_header(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[gateway]\nmax_message_size = 5000\n")
    raw = make_message(attachments=[("a.bin", b"\x01" * 20000, "application/octet-stream")])
    status, out = _run(raw, site_file=site)
    assert status == 1
    assert email.message_from_bytes(out)["X-Triage-Error"].startswith("too_large")
    assert _body(out) == _body(raw)


def test_internal_failure_writes_the_original_unchanged() -> None:
    raw = b"X-Triage-Verdict: clean\r\n" + make_message()
    status, out = _run(raw, factory="no.such.module:make")
    assert status == 1
    assert out == raw


def test_bad_configuration_writes_the_original_unchanged(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[gateway]\nmalicious = 'explode'\n")
    raw = make_message()
    status, out = _run(raw, site_file=site)
    assert status == 2
    assert out == raw


def test_cli_exit_zero() -> None:
    raw = (ROOT / "samples" / "05_rlo_exe.eml").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "triage.frontends.cli", "filter", "--exit-zero"],
        input=raw,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0
    assert b"X-Triage-Verdict: malicious" in done.stdout

"""`triage scan`: text and JSON output, exit codes, directories and stdin, escaping of hostile names."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT, make_message
from triage.frontends.cli import main

SAMPLES = ROOT / "samples"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_malicious_sample_exit_4_and_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "scan", str(SAMPLES / "05_rlo_exe.eml"))
    assert code == 4
    assert "MALICIOUS" in out
    assert "FILENAME_RLO" in out
    assert "\u202e" not in out
    assert "\\u202e" in out
    assert "報告書exe.pdf" in out  # the name as Explorer shows it


def test_clean_sample_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "scan", str(SAMPLES / "09_benign_business_iso2022jp.eml"))
    assert code == 0
    assert "CLEAN" in out


def test_suspicious_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "scan", str(SAMPLES / "11_spoofed_ministry_display_name.eml"))
    assert code == 3


def test_json_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "scan", "--json", str(SAMPLES / "06_password_zip_in_body.eml"))
    assert code == 4
    doc = json.loads(out)
    assert doc["verdict"]["level"] == "malicious"
    assert "ARCHIVE_PASSWORD_IN_BODY" in {f["id"] for f in doc["findings"]}


def test_directory_gives_json_lines_and_worst_exit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "scan", "--json", str(SAMPLES))
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(list(SAMPLES.glob("*.eml")))  # README.md and the builder script are skipped
    assert code == 4


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (SAMPLES / "02_2011_08_doc_is_exe.eml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code, out, _ = _run(capsys, "scan", "--json", "-")
    assert code == 4
    assert json.loads(out)["input"]["name"] == "-"


def test_missing_file_is_error_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "scan", str(tmp_path / "absent.eml"))
    assert code == 1
    assert "absent.eml" in err


def test_usage_error_is_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "scan")[0] == 2
    assert _run(capsys, "frobnicate")[0] == 2


def test_bad_config_is_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[limits]\nunknown_key = 1\n")
    code, _, err = _run(capsys, "scan", "--config", str(site), str(SAMPLES / "05_rlo_exe.eml"))
    assert code == 2
    assert "unknown_key" in err


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "scan", "--help")
    assert code == 0
    for word in ("0  clean", "3  suspicious", "4  malicious", "1  an input", "2  usage"):
        assert word in out


def test_hostile_subject_cannot_inject_markup_or_controls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    msg = tmp_path / "hostile.eml"
    msg.write_bytes(
        make_message(
            subject="[bold red]fake[/] \x1b[2J\u202etxt.exe",
            attachments=[("[link=http://x]a[/link]\x07.txt", b"hello", "text/plain")],
        )
    )
    code, out, _ = _run(capsys, "scan", "--color", "never", str(msg))
    assert code in (0, 3, 4)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "[bold red]fake[/]" in out


_MSG_DIR = CORPUS / "msg" / "hughbe__MsgReader"


@pytest.mark.skipif(not _MSG_DIR.exists(), reason="shared corpus not present")
def test_outlook_msg_is_scanned_as_the_message_it_holds(capsys: pytest.CaptureFixture[str]) -> None:
    path = _MSG_DIR / "aspose_email__Aspose_Email_for_Java__EmbededMessageAsAttachment.msg"
    assert main(["scan", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "email" in report["artifacts"][0]["types"]
    assert report["message"]["subject"]
    assert not [f for f in report["findings"] if f["id"] == "FILENAME_TYPE_MISMATCH"]


@pytest.mark.skipif(not _MSG_DIR.exists(), reason="shared corpus not present")
def test_outlook_item_that_is_not_mail_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(_MSG_DIR / "aquasync__ruby_msg__contact-plain.msg")]) == 1
    assert "is not a message" in capsys.readouterr().err

"""`triage batch` and `triage rescore` on the command line: exit codes, outputs, plain progress off a TTY."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pe import minimal_pe
from samplekit.batch import mbox, ppap_messages

from triage.frontends.cli import main


def test_batch_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "box.mbox").write_bytes(mbox(ppap_messages(minimal_pe())))
    out = tmp_path / "out"
    code = main(["batch", str(tmp_path / "box.mbox"), "--out", str(out), "--jobs", "1"])
    captured = capsys.readouterr()
    assert code == 4  # the opened archive holds an executable
    assert "PPAP" in captured.out and "opened" in captured.out
    assert "campaigns" in captured.out
    assert "triage batch: 4 messages" in captured.err  # the plain progress line, not a rich bar
    assert {p.name for p in out.iterdir()} >= {"results.sqlite", "results.jsonl", "summary.csv"}
    # results exist: a second run needs --resume, and then scans nothing
    assert main(["batch", str(tmp_path / "box.mbox"), "--out", str(out), "--quiet"]) == 2
    code = main(["batch", str(tmp_path / "box.mbox"), "--out", str(out), "--quiet", "--resume", "--jobs", "1"])
    assert "0 messages scanned" in capsys.readouterr().out
    assert main(["rescore", str(out)]) == 0
    assert "rescored 4 messages, 0 changed" in capsys.readouterr().out


def test_usage_errors(tmp_path: Path) -> None:
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert main(["rescore", str(tmp_path / "nothing")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[nonsense]\nx = 1\n")
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o2"), "--config", str(bad)]) == 2

"""`--lang`, TRIAGE_LANG and the locale on the command line: Japanese reports and help, English by default,
JSON the same in every language, an unsupported language a usage error."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from triage.config import load_config
from triage.frontends.cli import _parser, main
from triage.report.i18n import cell_width, load_messages

SAMPLES = ROOT / "samples"
RLO = str(SAMPLES / "05_rlo_exe.eml")
_LANG_VARIABLES = ("TRIAGE_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


@pytest.fixture(autouse=True)
def _neutral_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever locale the machine running the tests has, each test sets the one it means."""
    for name in _LANG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_japanese_report_of_each_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    """Every sample is checked through the same renderer in tests/report/test_i18n.py; here, the CLI path."""
    scoring = load_config(None).scoring
    english_titles = {scoring.title(sid) for sid in scoring.symbols} | {c.title for c in scoring.composites}
    names = ("05_rlo_exe.eml", "10_nested_zip_5_levels.eml", "41_pdf_unc_remote_action.eml")
    code, out, _ = _run(capsys, "scan", "--lang", "ja", *(str(SAMPLES / name) for name in names))
    assert code == 4
    assert len(re.findall(r"^╭", out, flags=re.M)) == len(names)  # one panel per message
    for word in ("悪性", "要注意", "問題なし", "検出事項", "アーティファクト", "一覧"):
        assert word in out
    for word in ("MALICIOUS", "SUSPICIOUS", "CLEAN", "Findings", "Artifacts", "score by group"):
        assert not re.search(rf"(?<![A-Z_]){word}(?![A-Z_])", out), word  # finding ids such as PE_SUSPICIOUS_… stay
    # the terminal folds long titles; joined back, no English title is left
    flat = re.sub(r"\s+", " ", out)
    assert sorted(t for t in english_titles if t in flat) == []


@pytest.mark.parametrize(
    ("variable", "value"), [("TRIAGE_LANG", "ja"), ("LANG", "ja_JP.UTF-8"), ("LC_ALL", "ja_JP.utf8")]
)
def test_environment_chooses_japanese(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, _ = _run(capsys, "scan", "--brief", RLO)
    assert code == 4
    assert out.startswith("悪性") and "FILENAME_RLO" in out


def test_lang_option_beats_the_environment(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_LANG", "ja")
    code, out, _ = _run(capsys, "scan", "--brief", "--lang", "en", RLO)
    assert code == 4 and out.startswith("MALICIOUS")


def test_english_without_a_japanese_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "C.UTF-8")
    code, out, _ = _run(capsys, "scan", RLO)
    assert code == 4
    assert "MALICIOUS" in out and "Findings" in out and "Bidi control" in out and "悪性" not in out


def test_unsupported_language_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _run(capsys, "scan", "--lang", "xx", RLO)
    assert code == 2 and "--lang" in err
    monkeypatch.setenv("TRIAGE_LANG", "xx")
    code, out, err = _run(capsys, "scan", RLO)
    assert code == 2 and "TRIAGE_LANG" in err and out == ""
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")  # a locale we do not speak is not an error
    monkeypatch.delenv("TRIAGE_LANG")
    assert _run(capsys, "scan", "--brief", RLO)[0] == 4


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    code, out, _ = _run(capsys, "scan", "--json", *args)
    assert code in (3, 4)
    docs = [json.loads(line) for line in out.splitlines()]
    for doc in docs:
        doc.pop("timings")  # wall-clock seconds differ from run to run
    return docs


def test_json_is_the_same_in_every_language(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = (RLO, str(SAMPLES / "41_pdf_unc_remote_action.eml"))
    english = _json(capsys, *paths)
    assert _json(capsys, "--lang", "ja", *paths) == english
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert _json(capsys, *paths) == english
    assert {f["id"] for f in english[0]["findings"]} >= {"FILENAME_RLO"}  # type: ignore[union-attr]


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, _ = _run(capsys, *args)
    assert code == 0
    return out


def _subcommands() -> list[str]:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    return list(sub.choices)  # type: ignore[arg-type]


def test_japanese_help_of_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    ja, en = load_messages("ja"), load_messages("en")
    commands = _subcommands()
    translated = {"scan", "batch", "rescore", "milter", "filter"}
    assert translated <= set(commands)
    if "messages" in inspect.signature(importlib.import_module("triage.frontends.extract").add_parser).parameters:
        translated.add("extract")
    top = _help(capsys, "--lang=ja", "--help")
    assert top.startswith("使い方: triage") and ja.t("cli.description") in top and "オプション:" in top
    for command in commands:
        out = _help(capsys, command, "--help", "--lang", "ja")
        assert out.startswith("使い方: triage " + command), command
        assert "このヘルプを表示して終了" in out and "show this help" not in out, command
        assert not re.search(r"\bcli\.[a-z_]+", out), command  # a help string missing from rules/i18n
        if command in translated:
            assert ja.t(f"cli.{command}_description")[:20] in out, command
            assert en.t(f"cli.{command}_description")[:30] not in out, command
        japanese = [line for line in out.splitlines() if not line.isascii()]
        assert all(cell_width(line) <= 100 for line in japanese), command  # wrapped by terminal columns
    scan = _help(capsys, "scan", "--help", "--lang", "ja")
    assert "終了ステータス" in scan and "  4  悪性" in scan and "--lang {en,ja}" in scan
    assert ja.t("cli.scan_brief") in scan


def test_help_follows_the_environment(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for command in _subcommands():
        assert not re.search(r"\bcli\.[a-z_]+", _help(capsys, command, "--help")), command
    english = _help(capsys, "scan", "--help")
    assert english.startswith("usage: triage scan") and "exit status" in english and "--lang {en,ja}" in english
    monkeypatch.setenv("TRIAGE_LANG", "ja")
    assert _help(capsys, "batch", "--help").startswith("使い方: triage batch")
    monkeypatch.setenv("TRIAGE_LANG", "xx")  # not our help's problem: English, and the scan itself says why
    assert _help(capsys, "--help").startswith("usage: triage")


def test_japanese_usage_error_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "scan", "--lang", "ja", "--no-such-option", RLO)
    assert code == 2
    assert err.startswith("使い方: triage") and "triage: エラー: unrecognized arguments: --no-such-option" in err
    code, _, err = _run(capsys, "scan", "--lang", "ja")
    assert code == 2 and err.startswith("使い方: triage scan") and "triage scan: エラー:" in err


def test_batch_reports_in_japanese(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "sweep"
    code, out, _ = _run(capsys, "batch", "--lang", "ja", "--quiet", "--jobs", "1", "--out", str(out_dir), RLO)
    assert code == 4
    assert "一括検査" in out and "悪性: 1" in out
    code, out, _ = _run(capsys, "rescore", "--lang", "ja", str(out_dir))
    assert code == 0 and "再計算" in out

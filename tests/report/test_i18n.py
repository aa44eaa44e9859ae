"""The Japanese interface: every finding, group and UI string has both languages, and the text report speaks ja."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path

import pytest

from triage.config import rules_dir
from triage.engine import Engine
from triage.model import Level, NoteKind, Report
from triage.report.i18n import (
    Messages,
    _flatten_ui,
    cell_width,
    load_messages,
    peek_lang,
    resolve_lang,
    wrap_cells,
)
from triage.report.text import print_summary, render_text
from triage.rulefiles import read_toml
from triage.scoring.table import ScoringTable

ROOT = Path(__file__).resolve().parents[2]
RULES = rules_dir()
SAMPLES = sorted((ROOT / "samples").glob("*.eml"))
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# UI strings that are the same in both languages on purpose: header names and indicator kinds analysts use as is.
_SAME_IN_BOTH = {
    "text.header_message_id",
    "text.header_return_path",
    "text.ioc_hashes",
    "text.ioc_ips",
    "text.ioc_urls",
    "html.hdr_message_id",
    "html.hdr_return_path",
}
# Fields a Japanese template may use beyond the English one (the code supplies them to both).
_EXTRA_FIELDS = {"text.note_line": {"kind"}}


def _ui(lang: str) -> dict[str, str]:
    path = RULES / "i18n" / f"{lang}.toml"
    return _flatten_ui(read_toml(path), str(path))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.fixture(scope="module")
def scoring(engine: Engine) -> ScoringTable:
    return engine.config.scoring


@pytest.fixture(scope="module")
def ja(scoring: ScoringTable) -> Messages:
    return load_messages("ja", scoring, RULES)


@pytest.fixture(scope="module")
def en(scoring: ScoringTable) -> Messages:
    return load_messages("en", scoring, RULES)


def _finding_ids(scoring: ScoringTable) -> list[str]:
    return sorted([*scoring.symbols, *(c.id for c in scoring.composites)])


def test_every_finding_has_a_japanese_title_and_description(scoring: ScoringTable) -> None:
    doc = read_toml(RULES / "i18n" / "ja.toml")
    findings: Mapping[str, Mapping[str, str]] = doc["findings"]
    ids = _finding_ids(scoring)
    assert len(ids) > 60
    missing = [fid for fid in ids if not findings.get(fid, {}).get("title") or not findings[fid].get("description")]
    assert missing == []
    assert sorted(set(findings) - set(ids)) == []  # no orphans for ids that no longer exist
    for fid in ids:
        en_title, en_desc = (
            scoring.title(fid),
            (
                scoring.symbols[fid].description
                if fid in scoring.symbols
                else next(c.description for c in scoring.composites if c.id == fid)
            ),
        )
        assert en_desc, f"{fid} has no English description"
        assert findings[fid]["title"] != en_title and _JAPANESE.search(findings[fid]["title"]), fid
        assert findings[fid]["description"] != en_desc and _JAPANESE.search(findings[fid]["description"]), fid


def test_every_group_has_both_languages(scoring: ScoringTable, ja: Messages, en: Messages) -> None:
    groups = set(scoring.group_caps)
    for name in groups:
        assert en.group(name) == name  # English reports name groups by their ids
        assert ja.group(name) != name and _JAPANESE.search(ja.group(name)), name
        assert en.group_description(name) and ja.group_description(name) != en.group_description(name), name
    ja_doc = read_toml(RULES / "i18n" / "ja.toml")
    assert set(ja_doc["groups"]) == groups
    assert {k.partition(".")[2] for k in _ui("en") if k.startswith("group.")} == groups


def test_ui_keys_match_and_japanese_is_not_a_copy() -> None:
    en, ja = _ui("en"), _ui("ja")
    assert sorted(set(en) - set(ja)) == []  # missing in Japanese
    assert sorted(set(ja) - set(en)) == []  # orphans: keys nothing looks up in English
    copies = sorted(k for k in en if ja[k] == en[k] and k not in _SAME_IN_BOTH)
    assert copies == []
    for key in en:
        assert _fields(ja[key]) <= _fields(en[key]) | _EXTRA_FIELDS.get(key, set()), key


def test_verdict_words_and_note_kinds(ja: Messages, en: Messages) -> None:
    assert [ja.verdict(level) for level in Level] == ["問題なし", "要注意", "悪性"]
    assert [en.verdict(level) for level in Level] == ["clean", "suspicious", "malicious"]
    for kind in NoteKind:
        assert ja.note_kind(kind) != kind.value and ja.note_kind(kind) != en.note_kind(kind)


def test_missing_keys_fall_back_to_english_then_the_key(en: Messages) -> None:
    partial = Messages(lang="ja", ui={"text.findings": "検出事項"}, findings={})
    assert partial.t("text.findings") == "検出事項"
    assert partial.t("text.no_such_key") == "text.no_such_key"
    assert partial.finding_title("FILENAME_RLO") == "FILENAME_RLO"
    assert en.t("text.ioc_more", count=3) == "… 3 more (see --json)"
    assert en.t("cli.batch_campaign_line", worst="w", kind="k", messages=1, recipients=2, key="x").endswith("x")


def test_resolve_lang_order() -> None:
    assert resolve_lang("ja", {"TRIAGE_LANG": "en"}) == "ja"
    assert resolve_lang(None, {"TRIAGE_LANG": "ja", "LANG": "C"}) == "ja"
    assert resolve_lang(None, {"LANG": "ja_JP.UTF-8"}) == "ja"
    assert resolve_lang(None, {"LC_ALL": "C.UTF-8", "LANG": "ja_JP.UTF-8"}) == "en"  # LC_ALL wins, even as C
    assert resolve_lang(None, {"LC_MESSAGES": "ja_JP.eucJP"}) == "ja"
    assert resolve_lang(None, {"LANG": "fr_FR.UTF-8"}) == "en"
    assert resolve_lang(None, {}) == "en"
    with pytest.raises(ValueError):
        resolve_lang("xx", {})
    with pytest.raises(ValueError):
        resolve_lang(None, {"TRIAGE_LANG": "klingon"})


def test_peek_lang_reads_argv_before_parsing() -> None:
    assert peek_lang(["scan", "--lang", "ja", "x.eml"], {}) == "ja"
    assert peek_lang(["scan", "--lang=ja", "--help"], {"LANG": "C"}) == "ja"
    assert peek_lang(["scan", "--help"], {"TRIAGE_LANG": "ja"}) == "ja"
    assert peek_lang(["scan", "--", "--lang", "ja"], {}) == "en"  # after --, a file name
    assert peek_lang(["scan", "--lang", "xx"], {"LANG": "ja_JP.UTF-8"}) == "ja"  # the parser reports xx later
    assert peek_lang(["--help"], {"TRIAGE_LANG": "xx", "LANG": "ja_JP.UTF-8"}) == "ja"


def test_wrap_cells_fits_and_keeps_every_character() -> None:
    text = "レポートとメッセージの言語: en または ja (既定: $TRIAGE_LANG、次にロケール、最後に en)。「引用」です。"
    for width in (16, 20, 31, 80):
        lines = wrap_cells(text, width)
        assert all(cell_width(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        assert not any(line[0] in "、。」)" for line in lines)
    assert wrap_cells("a b c", 80) == ["a b c"]
    assert wrap_cells("短い $TRIAGE_LANG_IS_LONG", 8) == ["短い", "$TRIAGE_LANG_IS_LONG"]  # a long word stands alone
    assert cell_width("悪性 ok") == 7


@pytest.fixture(scope="module")
def sample_reports(engine: Engine) -> list[Report]:
    return [engine.scan(path.read_bytes(), name=path.name) for path in SAMPLES]


def test_japanese_text_report_of_every_sample(
    sample_reports: list[Report], scoring: ScoringTable, ja: Messages, en: Messages
) -> None:
    english_titles = {scoring.title(fid) for fid in _finding_ids(scoring)}
    levels = set()
    for report in sample_reports:
        text = render_text([report], scoring, width=1000, messages=ja)  # wide: no title is folded
        untranslated = sorted(title for title in english_titles if title in text)
        assert untranslated == [], report.input.name
        for finding in report.findings:
            assert finding.id in text and ja.finding_title(finding.id) in text
        assert ja.verdict(report.verdict.level) in text
        assert en.verdict(report.verdict.level).upper() not in text
        if report.findings:
            assert "検出事項" in text and "Findings" not in text
        levels.add(report.verdict.level)
    assert levels == set(Level)  # the samples show every verdict word


def test_english_text_report_is_the_default(sample_reports: list[Report], scoring: ScoringTable, en: Messages) -> None:
    report = next(r for r in sample_reports if r.input.name == "05_rlo_exe.eml")
    text = render_text([report], scoring, width=200)
    assert text == render_text([report], scoring, width=200, messages=en)
    assert "MALICIOUS  score 26" in text and 'shown as "報告書exe.pdf"' in text
    assert "Bidi control or invisible character in a file name" in text


def test_brief_summary_pads_by_terminal_columns(sample_reports: list[Report], ja: Messages) -> None:
    from rich.console import Console

    reports = [r for r in sample_reports if r.input.name in ("05_rlo_exe.eml", "10_nested_zip_5_levels.eml")]
    reports += [next(r for r in sample_reports if r.verdict.level is Level.SUSPICIOUS)]
    console = Console(width=300, record=True, color_system=None)
    print_summary(console, reports, messages=ja)
    lines = console.export_text().splitlines()
    assert [line.split()[0] for line in lines] == [ja.verdict(r.verdict.level) for r in reports]
    # the input names start at the same terminal column whatever the width of the verdict word
    columns = {cell_width(line[: line.index(str(r.input.name))]) for line, r in zip(lines, reports, strict=True)}
    assert len(columns) == 1


def test_incomplete_report_and_notes_in_japanese(
    sample_reports: list[Report], scoring: ScoringTable, ja: Messages
) -> None:
    from dataclasses import replace

    from triage.model import Note, Verdict

    report = replace(
        sample_reports[0],
        notes=(Note(NoteKind.ENCRYPTED_NO_PASSWORD, "a2", "zip", "secret.zip: no candidate password opened it"),),
        verdict=Verdict(Level.SUSPICIOUS, complete=False),
    )
    text = render_text([report], scoring, width=1000, messages=ja)
    assert "要注意  スコア" in text and "(不完全: メールの一部を解析できませんでした)" in text
    assert "未解析の部分" in text
    assert "- 暗号化されておりパスワード不明 (encrypted_no_password) [zip] secret.zip: no candidate" in text
    english = render_text([report], scoring, width=1000)
    assert "Not analysed" in english and "- encrypted_no_password [zip] secret.zip" in english


def test_every_key_the_code_looks_up_exists() -> None:
    """A literal `messages.t("area.key")` anywhere in triage/ names a key of rules/i18n/en.toml (and so of ja.toml)."""
    en = _ui("en")
    used: dict[str, str] = {}
    for path in (ROOT / "triage").rglob("*.py"):
        for key in re.findall(r"""\.t\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""", path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    assert len(used) > 50
    assert sorted(f"{key} ({where})" for key, where in used.items() if key not in en) == []

"""LureAnalyzer: LURE_THEME — the rule file's examples and counter-examples, places, strengths, normalisation."""

from __future__ import annotations

import copy
import tomllib
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, make_message

from triage.analyzers.lure import (
    Example,
    Hit,
    LureAnalyzer,
    LureThemes,
    Theme,
    opening_text,
    parse_lure_themes,
)
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import Finding, MessageInfo
from triage.plugins import Analyzer, MessageView
from triage.registry import default_analyzers

RULES = ROOT / "rules" / "lists" / "lure_themes.toml"


@pytest.fixture(scope="module")
def analyzer() -> LureAnalyzer:
    plugin = LureAnalyzer()
    plugin.setup(load_config())
    return plugin


@pytest.fixture(scope="module")
def themes(analyzer: LureAnalyzer) -> LureThemes:
    return analyzer.themes


def view(subject: str = "", text: str = "", *, attachments: Sequence[str] = (), html_text: str = "") -> MessageView:
    return MessageView(
        info=MessageInfo(subject=subject),
        artifact="a0",
        headers=(),
        text=text,
        html_text=html_text,
        html="",
        defects=(),
        attachment_names=tuple(attachments),
    )


def run(analyzer: LureAnalyzer, target: MessageView) -> Finding | None:
    findings = list(analyzer.analyze(target, None))  # type: ignore[arg-type] - the analyzer needs no context
    assert len(findings) <= 1, "one finding per message at most"
    for f in findings:
        assert f.id == "LURE_THEME" and f.artifact == "a0" and f.analyzer == "lure"
        assert 0 < f.strength <= 1 and f.evidence
        assert not any(
            unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"} for item in f.evidence for ch in item
        ), f.evidence
    return findings[0] if findings else None


def hits_for(themes: LureThemes, example: Example, theme_id: str) -> list[Hit]:
    return [h for h in themes.match(example.subject, example.body, example.attachments) if h.theme.id == theme_id]


def _theme_ids() -> list[str]:
    with RULES.open("rb") as fh:
        return [t["id"] for t in tomllib.load(fh)["themes"]]


# -- the rule file -----------------------------------------------------------------------------------------------
def test_the_rule_file_covers_the_reported_themes(themes: LureThemes) -> None:
    ids = {t.id for t in themes.themes}
    assert {
        "meeting_report",
        "meeting",
        "party",
        "disaster",
        "power",
        "seasonal",
        "invoice",
        "recruiting",
        "personnel",
        "security",
        "calendar",
        "official_request",
    } <= ids
    assert all(t.examples and t.counter_examples for t in themes.themes)


@pytest.mark.parametrize("theme_id", _theme_ids())
def test_rule_file_examples_match_their_theme(themes: LureThemes, theme_id: str) -> None:
    theme = next(t for t in themes.themes if t.id == theme_id)
    for example in theme.examples:
        hits = hits_for(themes, example, theme_id)
        assert hits, f"{theme_id}: no match for {example}"
        if example.where is not None:
            assert example.where in {h.where for h in hits}, f"{theme_id}: {example} matched in {hits}"


@pytest.mark.parametrize("theme_id", _theme_ids())
def test_rule_file_counter_examples_do_not_match_their_theme(themes: LureThemes, theme_id: str) -> None:
    theme = next(t for t in themes.themes if t.id == theme_id)
    for example in theme.counter_examples:
        assert not hits_for(themes, example, theme_id), f"{theme_id}: counter-example matched: {example}"


# -- places and strengths ----------------------------------------------------------------------------------------
def test_subject_match(analyzer: LureAnalyzer) -> None:
    found = run(analyzer, view("歓迎会のお知らせ", "よろしくお願いします。"))
    assert found is not None and found.strength == 1.0
    assert found.evidence == ("theme: 歓迎会 (welcome, farewell or social gathering) in subject: 歓迎会のお知らせ",)


def test_opening_lines_only(analyzer: LureAnalyzer) -> None:
    found = run(analyzer, view("ご案内", "各位\n\n本年の忘年会を下記のとおり開催します。\n"))
    assert found is not None and found.strength == 0.5
    assert found.evidence[0].startswith("theme: 忘年会 (welcome, farewell or social gathering) in opening lines: ")
    assert "本年の忘年会を下記" in found.evidence[0]


@pytest.mark.parametrize("text", ["", "\r\n \n"])
def test_html_text_is_the_body_when_there_is_no_plain_text(analyzer: LureAnalyzer, text: str) -> None:
    found = run(analyzer, view("ご案内", text, html_text="本年の忘年会を開催します。"))
    assert found is not None and found.strength == 0.5


def test_attachment_name(analyzer: LureAnalyzer) -> None:
    found = run(analyzer, view("ご確認ください", "添付をご覧ください。", attachments=["送別会案内.zip"]))
    assert found is not None and found.strength == 0.7
    assert found.evidence == (
        "theme: 送別会 (welcome, farewell or social gathering) in attachment name: 送別会案内.zip",
    )


@pytest.mark.parametrize(
    ("subject", "text", "attachments", "strength"),
    [
        ("日程のご連絡", "", (), 0.7),  # generic theme in the subject
        ("ご連絡", "来年度の行事予定をお送りします。", (), 0.35),  # generic theme in the body
        ("ご連絡", "", ("2012_calendar.pdf",), 0.49),  # generic theme in a name
    ],
)
def test_generic_themes_count_less(
    analyzer: LureAnalyzer, subject: str, text: str, attachments: tuple[str, ...], strength: float
) -> None:
    found = run(analyzer, view(subject, text, attachments=attachments))
    assert found is not None and found.strength == strength


def test_strongest_place_wins_and_each_theme_is_listed(analyzer: LureAnalyzer) -> None:
    found = run(
        analyzer,
        view("会議資料の送付", "計画停電の実施についてご連絡します。", attachments=["履歴書.doc"]),
    )
    assert found is not None and found.strength == 0.7
    assert [line.split(" in ")[0] for line in found.evidence] == [
        "theme: 会議資料 (meeting or event)",
        "theme: 履歴書 (resume or recruiting)",
        "theme: 計画停電 (power cut or power saving)",
    ]


def test_a_theme_in_the_subject_is_not_repeated_for_the_body(analyzer: LureAnalyzer) -> None:
    found = run(analyzer, view("歓迎会のお知らせ", "歓迎会を開催します。"))
    assert found is not None and len(found.evidence) == 1


# -- words that are too common alone -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("お知らせ", "来月から営業時間が変わります。"),
        ("ご連絡", "本日の会議ではお世話になりました。"),  # 会議 alone counts only in a subject
        ("ご相談", "スケジュールについてご相談させてください。"),
        ("ご報告", "日程が決まりましたらご連絡いたします。"),
        ("資料送付の件", "セキュリティの観点から、添付ファイルはパスワード付きで送付します。"),
        ("パスワードのお知らせ", "先ほどお送りしたファイルのパスワードをお知らせします。"),
        ("新年度の体制について", "4月から担当が変わります。"),
        ("仕様変更について", "新しい方式を採用しました。"),
        ("", ""),
    ],
)
def test_ordinary_business_mail_does_not_fire(analyzer: LureAnalyzer, subject: str, text: str) -> None:
    assert run(analyzer, view(subject, text)) is None


def test_meeting_alone_in_the_subject_is_a_weak_match(analyzer: LureAnalyzer) -> None:
    found = run(analyzer, view("定例会議の件", "よろしくお願いします。"))
    assert found is not None and found.strength == 0.7


@pytest.mark.parametrize(
    ("subject", "text", "attachments"),
    [
        ("Re: [PATCH] PM: fix resume ordering", "On resume the device is not ready.", ()),
        ("Re: CVE-2021-1234", "The CVE is fixed.", ()),
        ("[GIT PULL] x86/urgent for v5.10-rc3", "Please pull the latest x86/urgent branch.", ()),
        ("[PATCH] staging: rtl8723bs: fix the payload length", "The payload is too short.", ()),
        ("Evolution 0.10", "Evolution combines email, calendar, address book and more.", ()),
        ("Build log", "See attached.", ("build-cve.log", "resumed.txt")),
    ],
)
def test_english_developer_mail_does_not_fire(
    analyzer: LureAnalyzer, subject: str, text: str, attachments: tuple[str, ...]
) -> None:
    assert run(analyzer, view(subject, text, attachments=attachments)) is None


@pytest.mark.parametrize(
    ("subject", "attachments", "matched"),
    [
        ("Application", ("CV_2024.pdf",), "cv"),
        ("Application", ("Resume-Tanaka.docx",), "resume"),
        ("書類", ("MERRY_CHRISTMAS.pdf",), "merry_christmas"),
    ],
)
def test_ascii_keywords_are_whole_words(
    analyzer: LureAnalyzer, subject: str, attachments: tuple[str, ...], matched: str
) -> None:
    found = run(analyzer, view(subject, "", attachments=attachments))
    assert found is not None and found.evidence[0].startswith(f"theme: {matched} (")


# -- normalisation -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "matched"),
    [
        ("ＩＮＶＯＩＣＥ　送付", "invoice"),  # full-width letters
        ("ｶﾚﾝﾀﾞｰ送付", "カレンダー"),  # half-width katakana
        ("アカ\u2061ウント利用停\u2064止のお知らせ", "アカウント利用停止"),  # invisible operators inside words
        ("【 重要 】ご確認ください", "【 重要 】"),
        ("＜重要＞ご利用制限", "<重要>"),
        ("Merry   Christmas!", "merry   christmas"),
    ],
)
def test_normalised_before_matching(analyzer: LureAnalyzer, subject: str, matched: str) -> None:
    found = run(analyzer, view(subject, ""))
    assert found is not None
    assert found.evidence[0].startswith(f"theme: {matched} ("), found.evidence


def test_evidence_is_escaped(analyzer: LureAnalyzer) -> None:
    found = run(analyzer, view("歓迎会\u202eのお知らせ", ""))
    assert found is not None and "\\u202e" in found.evidence[0]


# -- opening lines -----------------------------------------------------------------------------------------------
def test_opening_text_skips_blank_and_quoted_lines() -> None:
    body = "\n\n  Dear all,\n> 歓迎会のお知らせ\n＞ 忘年会\n\nSecond line\n"
    assert opening_text(body) == "Dear all,\nSecond line"


def test_opening_text_is_bounded() -> None:
    body = "\n".join(f"line {i}" for i in range(50))
    assert opening_text(body, max_lines=3) == "line 0\nline 1\nline 2"
    assert len(opening_text("あ" * 5000, max_chars=600)) == 600
    assert opening_text("") == ""


def test_a_theme_past_the_opening_does_not_count(analyzer: LureAnalyzer) -> None:
    body = "\n".join(["いつもお世話になっております。"] * 12 + ["忘年会のご案内です。"])
    assert run(analyzer, view("ご連絡", body)) is None


def test_options_change_the_opening() -> None:
    plugin = LureAnalyzer()
    plugin.setup(load_config(overrides={"analyzers": {"lure": {"opening_lines": 20, "opening_chars": 2000}}}))
    body = "\n".join(["いつもお世話になっております。"] * 12 + ["忘年会のご案内です。"])
    assert run(plugin, view("ご連絡", body)) is not None


# -- the rule file's validation ----------------------------------------------------------------------------------
def _doc() -> dict[str, Any]:
    with RULES.open("rb") as fh:
        return tomllib.load(fh)


def _broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_doc())
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "unknown key"),
        (lambda d: d.update(themes=[]), "non-empty"),
        (lambda d: d["themes"][0].update(colour="red"), "unknown key"),
        (lambda d: d["themes"][0].update(id="Bad Id"), "identifier"),
        (lambda d: d["themes"][1].update(id=d["themes"][0]["id"]), "duplicate id"),
        (lambda d: d["themes"][0].pop("title_en"), "title_en"),
        (lambda d: d["themes"][0].update(generic="yes"), "generic"),
        (lambda d: d["themes"][0].update(keywords="会議"), "list of strings"),
        (lambda d: d["themes"][0].update(keywords=[" "]), "empty"),
        (lambda d: d["themes"][1]["keywords"].append(d["themes"][0]["keywords"][0]), "also belongs"),
        (lambda d: d["themes"][0].update(patterns=["(unclosed"]), "invalid regular expression"),
        (lambda d: d["themes"][0].update(patterns=["Invoice"]), "upper-case"),
        (lambda d: d["themes"][0].update(patterns=["(invoice)"]), "capturing"),
        (lambda d: d["themes"][0].update(patterns=["x*"]), "empty string"),
        (lambda d: d["themes"][0].update(patterns=["(?:暑中|残暑)見舞"]), "start with a literal"),
        (lambda d: d["themes"][0].update(patterns=["[【<]重要"]), "start with a literal"),
        (lambda d: d["themes"][0].update(patterns=["a?invoice"]), "start with a literal"),
        (lambda d: d["themes"][0].update(patterns=["\\sinvoice"]), "start with a literal"),
        (lambda d: d["themes"][0].update(patterns=[".{0,3}invoice"]), "start with a literal"),
        (
            lambda d: d["themes"][0].update(keywords=[], subject_keywords=[], patterns=[], subject_patterns=[]),
            "no keywords",
        ),
        (lambda d: d["themes"][0].update(examples=[]), "at least one example"),
        (lambda d: d["themes"][0]["examples"].append({"subject": "x", "where": "footer"}), "where must be"),
        (lambda d: d["themes"][0]["examples"].append({"subjekt": "x"}), "unknown key"),
        (lambda d: d["themes"][0]["counter_examples"].append({"body": 3}), "must be strings"),
    ],
)
def test_bad_rule_files(change: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_lure_themes(_broken(change), "test")


def test_the_shipped_file_parses_to_themes() -> None:
    parsed = parse_lure_themes(_doc(), "test")
    assert all(isinstance(t, Theme) for t in parsed.themes)


@pytest.mark.parametrize("pattern", ["\\[\\s*重要\\s*\\]", "【\\s*重要", "password\\s+reset", "アカウント.{0,8}?停止"])
def test_patterns_starting_with_a_literal_are_accepted(pattern: str) -> None:
    doc = _broken(lambda d: d["themes"][0].update(patterns=[pattern]))
    assert parse_lure_themes(doc, "test").themes


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        LureAnalyzer().setup(load_config(overrides={"analyzers": {"lure": {"theme": "x.toml"}}}))


@pytest.mark.parametrize("value", [0, -1, True, "10"])
def test_bad_opening_option_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError, match="opening_lines"):
        LureAnalyzer().setup(load_config(overrides={"analyzers": {"lure": {"opening_lines": value}}}))


def test_missing_rule_file_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(overrides={"analyzers": {"lure": {"themes": str(tmp_path / "none.toml")}}})
    with pytest.raises(ConfigError, match="cannot read"):
        LureAnalyzer().setup(config)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[themes]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        LureAnalyzer().setup(load_config(overrides={"analyzers": {"lure": {"themes": str(path)}}}))


def test_setup_is_required() -> None:
    with pytest.raises(RuntimeError):
        list(LureAnalyzer().analyze(view("歓迎会"), None))  # type: ignore[arg-type]


# -- through the engine, and the samples -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine() -> Engine:
    others: list[Analyzer] = [a for a in default_analyzers() if a.name != LureAnalyzer.name]
    return Engine(analyzers=[*others, LureAnalyzer()])


def _lure(engine: Engine, raw: bytes) -> Finding | None:
    report = engine.scan(raw)
    assert not [n for n in report.notes if n.component == "lure"], report.notes
    found = [f for f in report.findings if f.id == "LURE_THEME"]
    assert len(found) <= 1
    return found[0] if found else None


def test_engine_message_with_attachment(engine: Engine) -> None:
    raw = make_message(
        subject="暑中お見舞い申し上げます",
        body="厳しい暑さが続いておりますが、いかがお過ごしでしょうか。",
        attachments=[("残暑見舞い.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")],
    )
    found = _lure(engine, raw)
    assert found is not None and found.strength == 1.0
    assert [line.split(":")[0] for line in found.evidence] == ["theme", "theme"]
    assert "in attachment name: 残暑見舞い.pdf" in found.evidence[1]


def test_engine_plain_message_does_not_fire(engine: Engine) -> None:
    assert _lure(engine, make_message()) is None


def test_sample_welcome_party(engine: Engine) -> None:
    found = _lure(engine, (ROOT / "samples" / "01_welcome_party_zip_exe.eml").read_bytes())
    assert found is not None and found.strength == 1.0
    assert found.evidence[0] == "theme: 歓迎会 (welcome, farewell or social gathering) in subject: 歓迎会のお知らせ"
    assert "theme: 歓迎会 (welcome, farewell or social gathering) in attachment name: 歓迎会.zip" in found.evidence


def test_sample_merry_christmas(engine: Engine) -> None:
    found = _lure(engine, (ROOT / "samples" / "03_merry_christmas_pdf.eml").read_bytes())
    assert found is not None and found.strength == 1.0
    assert found.evidence[0] == "theme: 謹賀新年 (seasonal greeting) in subject: 謹賀新年"
    assert any("merry_christmas" in line and "MERRY_CHRISTMAS.pdf" in line for line in found.evidence)


def test_sample_benign_business_gets_a_weak_meeting_theme(engine: Engine) -> None:
    """Ordinary business mail about a meeting matches: a weak signal, accepted by design."""
    found = _lure(engine, (ROOT / "samples" / "09_benign_business_iso2022jp.eml").read_bytes())
    assert found is not None and found.strength == 0.7
    assert found.evidence == (
        "theme: 会議資料 (meeting or event) in subject: 会議資料の送付",
        "theme: 会議資料 (meeting or event) in attachment name: 会議資料.pdf",
    )

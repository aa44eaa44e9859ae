"""JapaneseTextAnalyzer: JA_NON_JAPANESE_KANJI, JA_UNNATURAL_PHRASE, JA_LOW_NATURALNESS — fire and must not fire.

Also pins the evaluation set in tests/data/ja: no natural text gets any JA_* finding, every own lure text fires
what it expects, every rule's examples fire it and its counter-examples do not. No timings here (DESIGN §8):
quadratic behaviour on hostile input shows up as a test run that does not end.
"""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, ROOT, make_message

from triage.analyzers.ja_text import (
    CP932_CHINESE,
    JIS_X_0213_CHINESE,
    MAX_KANJI_LISTED,
    JapaneseTextAnalyzer,
    is_japanese,
    load_phrase_rules,
    parse_phrase_rules,
)
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.ingest.eml import parse_email
from triage.model import Finding, MessageInfo
from triage.plugins import DeadlineExceeded, MessageView
from triage.registry import default_analyzers

DATA = ROOT / "tests" / "data" / "ja"
KANJI, PHRASE, NATURALNESS = "JA_NON_JAPANESE_KANJI", "JA_UNNATURAL_PHRASE", "JA_LOW_NATURALNESS"
MiB = 1024 * 1024


class Ctx:
    """The part of PluginContext the analyzer uses; `deadline_after` makes check_deadline raise."""

    def __init__(self, deadline_after: int | None = None) -> None:
        self.checks = 0
        self.deadline_after = deadline_after

    def check_deadline(self) -> None:
        self.checks += 1
        if self.deadline_after is not None and self.checks > self.deadline_after:
            raise DeadlineExceeded("ja_text")


@pytest.fixture(scope="module")
def analyzer() -> JapaneseTextAnalyzer:
    plugin = JapaneseTextAnalyzer()
    plugin.setup(load_config())
    return plugin


@pytest.fixture(scope="module")
def plain() -> JapaneseTextAnalyzer:
    """Without the morphological analyser: what a site without SudachiPy gets."""
    plugin = JapaneseTextAnalyzer()
    plugin.setup(load_config(overrides={"analyzers": {"ja_text": {"naturalness": False}}}))
    return plugin


def view(body: str, subject: str = "", html_text: str = "") -> MessageView:
    return MessageView(
        info=MessageInfo(subject=subject or None),
        artifact="a0",
        headers=(),
        text=body,
        html_text=html_text,
        html="",
        defects=(),
    )


def run(analyzer: JapaneseTextAnalyzer, target: MessageView, ctx: Ctx | None = None) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for f in analyzer.analyze(target, ctx or Ctx()):  # type: ignore[arg-type]  # Ctx is the part it uses
        assert f.artifact == "a0" and f.analyzer == "ja_text" and 0 < f.strength <= 1
        assert f.id in JapaneseTextAnalyzer.emits
        assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for e in f.evidence for ch in e), f
        found.setdefault(f.id, []).append(f)
    for finding_id in (KANJI, NATURALNESS):
        assert len(found.get(finding_id, [])) <= 1, "one finding per id, one per rule for phrases"
    return found


def rules_fired(found: dict[str, list[Finding]]) -> set[str]:
    return {f.evidence[0].split(":", 1)[0] for f in found.get(PHRASE, [])}


def cases(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open("rb") as fh:
        return list(tomllib.load(fh)["case"])


# -- the rules file -------------------------------------------------------------------------------------------------
def test_rules_load_and_carry_examples(analyzer: JapaneseTextAnalyzer) -> None:
    assert len(analyzer.rules) >= 12
    for rule in analyzer.rules:
        assert rule.examples and rule.counter_examples and rule.source


def test_every_rule_fires_on_its_examples(plain: JapaneseTextAnalyzer) -> None:
    for rule in plain.rules:
        for example in rule.examples:
            found = run(plain, view(example))
            assert rule.id in rules_fired(found), (rule.id, example)
            finding = next(f for f in found[PHRASE] if f.evidence[0].startswith(rule.id + ":"))
            assert finding.strength == rule.strength
            assert len(finding.evidence) >= 2 and finding.evidence[1].startswith('"'), finding.evidence


def test_no_rule_fires_on_its_counter_examples(plain: JapaneseTextAnalyzer) -> None:
    for rule in plain.rules:
        for counter in rule.counter_examples:
            assert rule.id not in rules_fired(run(plain, view(counter))), (rule.id, counter)


def test_counter_examples_are_judged_at_all() -> None:
    """A counter-example that is not Japanese enough to be analysed would pass vacuously."""
    for rule in load_phrase_rules(ROOT / "rules" / "ja" / "phrases.toml"):
        for counter in rule.counter_examples:
            assert is_japanese(counter), (rule.id, counter)


def _rules(**rule: Any) -> dict[str, Any]:
    base = {
        "id": "x",
        "description": "d",
        "strength": 0.5,
        "source": "s",
        "pattern": "お願いたします",
        "examples": ["よろしくお願いたします。"],
        "counter_examples": ["よろしくお願いいたします。"],
    }
    base.update(rule)
    return {"rules": [{k: v for k, v in base.items() if v is not None}]}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"pattern": "お願い(たします"}, "does not compile"),
        ({"examples": []}, "examples"),
        ({"examples": None}, "examples"),
        ({"counter_examples": None}, "counter_examples"),
        ({"strength": 0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"id": "Bad-Id"}, "snake_case"),
        ({"source": None}, "source"),
        ({"literal": "x"}, "exactly one"),
        ({"pattern": None}, "exactly one"),
        ({"pattern": "a*"}, "empty string"),
        ({"pattern": None, "all": ["a"]}, "at least two"),
        ({"pattern": None, "spaced_words": ["x y"]}, "without spaces"),
        ({"pattern": None, "long_vowel_words": ["メール-"]}, "inner ー"),
        ({"pattern": None, "long_vowel_words": ["カード"], "min_count": 0}, "min_count"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_bad_rule_files_are_config_errors(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_phrase_rules(_rules(**rule), "phrases.toml")


def test_duplicate_ids_and_unknown_top_level_keys() -> None:
    doc = _rules()
    with pytest.raises(ConfigError, match="duplicate"):
        parse_phrase_rules({"rules": doc["rules"] * 2}, "phrases.toml")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_phrase_rules({**doc, "extra": 1}, "phrases.toml")


def test_bad_options_and_missing_file(tmp_path: Path) -> None:
    plugin = JapaneseTextAnalyzer()
    with pytest.raises(ConfigError, match="unknown option"):
        plugin.setup(load_config(overrides={"analyzers": {"ja_text": {"colour": "red"}}}))
    with pytest.raises(ConfigError, match="naturalness"):
        plugin.setup(load_config(overrides={"analyzers": {"ja_text": {"naturalness": "yes"}}}))
    with pytest.raises(ConfigError, match="cannot read"):
        plugin.setup(load_config(overrides={"analyzers": {"ja_text": {"phrases": str(tmp_path / "none.toml")}}}))
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nid = 'x'\npattern = '('\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        plugin.setup(load_config(overrides={"analyzers": {"ja_text": {"phrases": str(bad)}}}))


def test_max_chars_limits_a_rule_to_short_fields(tmp_path: Path) -> None:
    rules = tmp_path / "phrases.toml"
    rules.write_text(
        "[[rules]]\nid = 'short_only'\ndescription = 'd'\nstrength = 0.5\nsource = 's'\n"
        "pattern = 'お願いいたします'\nmax_chars = 40\n"
        "examples = ['よろしくお願いいたします。']\ncounter_examples = ['よろしくお願いします。']\n",
        encoding="utf-8",
    )
    plugin = JapaneseTextAnalyzer()
    plugin.setup(load_config(overrides={"analyzers": {"ja_text": {"phrases": str(rules), "naturalness": False}}}))
    assert rules_fired(run(plugin, view("よろしくお願いいたします。"))) == {"short_only"}
    assert rules_fired(run(plugin, view("よろしくお願いいたします。" + "ご確認ください。" * 10))) == set()


# -- the evaluation set ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("natural.toml"), ids=lambda c: c["id"])
def test_natural_texts_get_no_finding(analyzer: JapaneseTextAnalyzer, case: dict[str, Any]) -> None:
    assert is_japanese(case["subject"] + case["body"]), "a natural text that is not judged proves nothing"
    assert run(analyzer, view(case["body"], case["subject"])) == {}


@pytest.mark.parametrize("case", cases("lures.toml"), ids=lambda c: c["id"])
def test_own_lures_fire_what_they_expect(plain: JapaneseTextAnalyzer, case: dict[str, Any]) -> None:
    assert case["source"] and case["expect"]
    found = run(plain, view(case["body"], case["subject"]))
    assert set(case["expect"]) <= set(found), (case["id"], found)


def _corpus_cases(label: str) -> list[dict[str, Any]]:
    return [c for c in cases("corpus.toml") if c["label"] == label]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not here")
@pytest.mark.parametrize("case", _corpus_cases("natural"), ids=lambda c: c["path"].rsplit("/", 1)[-1])
def test_corpus_ham_gets_no_finding(analyzer: JapaneseTextAnalyzer, case: dict[str, Any]) -> None:
    parsed = parse_email((CORPUS / case["path"]).read_bytes())
    target = MessageView(
        info=parsed.info, artifact="a0", headers=(), text=parsed.text, html_text=parsed.html_text, html="", defects=()
    )
    assert run(analyzer, target) == {}


# -- JA_NON_JAPANESE_KANJI --------------------------------------------------------------------------------------------
def test_simplified_characters_in_japanese(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("来週の会议资料を添付いたしますので、ご確認ください。よろしくお願いします。"))
    kanji = found[KANJI][0]
    assert kanji.strength == 0.7
    assert kanji.evidence[0] == "2 character(s) Japanese does not write: 议 U+8BAE, 资 U+8D44"
    assert kanji.evidence[-1] == 'in "来週の会议资料を添付いたします…"'


def test_three_characters_are_full_strength(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("会议资料をご确认ください。请查收、よろしくお願いします。"))
    assert found[KANJI][0].strength == 1.0


def test_traditional_only_forms(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("添付の說明資料をご確認のうえ、ご返信ください。"))
    assert "說 U+8AAA" in found[KANJI][0].evidence[0]


def test_simplified_forms_that_jis_x_0213_holds(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("歓迎会は金曜日に开催します。ご参加をお待ちしております。"))
    assert found[KANJI][0].strength == 0.8
    assert "开 U+5F00" in found[KANJI][0].evidence[0]


def test_chinese_forms_that_cp932_holds_are_weaker(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("お客様の个人情報を確認させていただきます。よろしくお願いします。"))
    assert found[KANJI][0].strength == 0.5
    assert found[KANJI][0].evidence[1] == "weaker (Chinese forms cp932 also holds): 个"


def test_chinese_text_without_kana_is_never_judged(plain: JapaneseTextAnalyzer) -> None:
    assert run(plain, view("我们的产品质量很好，欢迎您来电洽谈。请查收附件，谢谢！这个问题已经解决了。")) == {}
    assert run(plain, view("親愛的客戶您好，請查收附件中的說明文件。謝謝！")) == {}


def test_chinese_with_a_stray_no_is_not_japanese(plain: JapaneseTextAnalyzer) -> None:
    assert run(plain, view("我们の产品质量很好，欢迎您来电洽谈。请查收附件，谢谢！这个问题已经解决了。")) == {}


def test_quoted_chinese_paragraph_in_a_japanese_mail(plain: JapaneseTextAnalyzer) -> None:
    body = (
        "上海支社から以下の連絡がありましたので、共有いたします。\n"
        "内容をご確認のうえ、ご対応をお願いいたします。\n\n"
        "我们已经收到贵公司的报价单，请尽快确认交货日期。\n"
    )
    assert KANJI not in run(plain, view(body))


@pytest.mark.parametrize(
    "text",
    [
        "森鷗外の記念館で、髙橋部長と山﨑課長にお会いしました。",
        "𠮷田様は剝離骨折の治療中で、尾骶骨も打撲されたそうです。",
        "子どもを𠮟るときは、理由をきちんと説明しましょう。",
        "德永様と眞田様にもよろしくお伝えください。",
        "上海支社の張さんと劉さんが参加されます。",
        "國學院大學の講演会にご招待いただきました。",
    ],
)
def test_rare_japanese_kanji_do_not_fire(plain: JapaneseTextAnalyzer, text: str) -> None:
    assert KANJI not in run(plain, view(text))


def test_curated_lists_hold_what_they_claim() -> None:
    for ch in JIS_X_0213_CHINESE:
        assert ch.encode("gb2312", "ignore") or ch.encode("big5", "ignore"), ch
        assert not ch.encode("cp932", "ignore"), f"{ch} is in cp932: Japanese writes it"
        assert ch.encode("euc_jis_2004", "ignore"), f"{ch} is not in JIS X 0213: it needs no list"
    for ch in CP932_CHINESE:
        assert ch.encode("cp932", "ignore"), f"{ch} is not in cp932: it needs no list"
    for ch in "们这说话请问时书":  # the common simplified forms: outside every Japanese character set
        assert not ch.encode("cp932", "ignore") and not ch.encode("euc_jis_2004", "ignore"), ch


def test_no_jis_x_0208_kanji_fires_except_the_curated_ones(plain: JapaneseTextAnalyzer) -> None:
    tables = plain.kanji
    jis0208 = {bytes((a, b)).decode("euc_jp", "ignore") for a in range(0xB0, 0xF5) for b in range(0xA1, 0xFF)}
    flagged = {ch for ch in jis0208 if ch in tables.flagged}
    assert flagged <= CP932_CHINESE, sorted(flagged - CP932_CHINESE)
    assert "会" not in tables.flagged and "学" not in tables.flagged


def test_kanji_evidence_is_capped(plain: JapaneseTextAnalyzer) -> None:
    chinese = "们这说话请问时书东实发经对边样现题间员进产强统计报认证码络户录账"
    body = "".join(f"{ch}のことです。" for ch in chinese)
    kanji = run(plain, view(body))[KANJI][0]
    listed = kanji.evidence[0].split(": ", 1)[1].split(", ")
    assert len(listed) == MAX_KANJI_LISTED
    assert kanji.strength == 1.0


# -- JA_UNNATURAL_PHRASE specifics --------------------------------------------------------------------------------
def test_evidence_quotes_the_match_with_controls_escaped(plain: JapaneseTextAnalyzer) -> None:
    body = "アカ\u2061ウントの利\u2064用を一時制\u2061限しました。ご確認ください。"
    finding = next(f for f in run(plain, view(body))[PHRASE] if f.evidence[0].startswith("invisible_in_text"))
    assert any("\\u2061" in e for e in finding.evidence[1:]), finding.evidence


def test_one_finding_per_rule_however_often_it_matches(plain: JapaneseTextAnalyzer) -> None:
    body = "よろしくお願いたします。\n" * 50
    found = run(plain, view(body))
    assert [f.evidence[0].split(":")[0] for f in found[PHRASE]] == ["onegai_tashimasu"]


def test_new_year_in_subject_and_christmas_in_body(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("メリークリスマス！本年もよろしくお願いいたします。", subject="謹賀新年"))
    assert "new_year_and_christmas" in rules_fired(found)


def test_width_is_normalised_before_matching(plain: JapaneseTextAnalyzer) -> None:
    # a full-width space inside お願い, half-width katakana with a full-width hyphen for ー
    found = run(plain, view("よろしくお　願いいたします。ﾒ－ﾙをご確認ください。"))
    assert {"space_inside_word", "dash_for_long_vowel"} <= rules_fired(found)


def test_html_text_is_analysed(plain: JapaneseTextAnalyzer) -> None:
    found = run(plain, view("", html_text="ご確認のほど、よろしくお願いたします。"))
    assert "onegai_tashimasu" in rules_fired(found)


# -- not Japanese ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Merry Christmas and a Happy New Year! Your payment of 9, 580 yen was made at 23:49 PM.",
        "Dear customer, please click the link below to verify your account.",
        "Sehr geehrte Damen und Herren, anbei die Rechnung.",
        "안녕하세요. 첨부 파일을 확인해 주세요.",
        "",
    ],
)
def test_text_that_is_not_japanese_is_never_flagged(analyzer: JapaneseTextAnalyzer, text: str) -> None:
    assert run(analyzer, view(text, subject=text[:40])) == {}


def test_is_japanese() -> None:
    assert is_japanese("資料を送付いたします。")
    assert not is_japanese("資料送付")  # no kana
    assert not is_japanese("我们の产品质量很好欢迎您来电洽谈请查收附件谢谢这个问题已经解决了")
    assert not is_japanese("アイウエオ")  # kana, but none a Japanese sentence goes without


# -- JA_LOW_NATURALNESS ------------------------------------------------------------------------------------------
SPACED = (
    "三 井 住 友 カ ー ドをご利用のお客様へ\n"
    "このたびは三 井 住 友 カ ー ドをご利用いただき、誠にありがとうございます。\n"
    "下記のご利用照会がございましたので、お知らせいたします。\n"
    "ご 利 用 日 時 ：2024年5月1日\n"
    "ご 利 用 場 所 ：千代田一ツ橋店\n"
    "ご利用に覚えがない場合は、お問い合わせください。\n"
)


def test_naturalness_fires_on_letter_spaced_text(analyzer: JapaneseTextAnalyzer) -> None:
    if not analyzer.has_naturalness:
        pytest.skip("SudachiPy with sudachidict-core is not installed")
    finding = run(analyzer, view(SPACED))[NATURALNESS][0]
    assert "letter-spaced runs" in finding.evidence[0]


def test_naturalness_fires_on_invisible_characters(analyzer: JapaneseTextAnalyzer) -> None:
    if not analyzer.has_naturalness:
        pytest.skip("SudachiPy with sudachidict-core is not installed")
    body = "".join(
        f"{ch}\u2061" if i % 3 == 1 else ch
        for i, ch in enumerate(
            "コインチェックをご利用いただきありがとうございます。暗号資産の送金、並びに日本円出金を制限しております。"
            "お問い合わせフォームからご回答ください。本メールの内容、テキスト、画像などの無断転載を禁止します。"
        )
    )
    found = run(analyzer, view(body))
    assert NATURALNESS in found


def test_naturalness_is_quiet_on_short_or_natural_text(analyzer: JapaneseTextAnalyzer) -> None:
    assert NATURALNESS not in run(analyzer, view("三 井 住 友 カ ー ドのご案内です。"))  # too short to judge
    natural = cases("natural.toml")[0]
    assert NATURALNESS not in run(analyzer, view(natural["body"], natural["subject"]))


def test_without_sudachi_the_rest_still_works(plain: JapaneseTextAnalyzer) -> None:
    assert not plain.has_naturalness
    found = run(plain, view(SPACED))
    assert NATURALNESS not in found and PHRASE in found


# -- hostile input: bounded work, caps kept ----------------------------------------------------------------------
def test_a_megabyte_of_kanji(analyzer: JapaneseTextAnalyzer) -> None:
    assert run(analyzer, view("漢" * MiB, subject="字" * MiB)) == {}  # no kana: not Japanese
    found = run(analyzer, view("们の" * (MiB // 2)))
    assert found[KANJI][0].evidence[0].startswith("1 character(s)")


def test_a_long_chinese_text_under_a_japanese_subject(plain: JapaneseTextAnalyzer) -> None:
    chinese = "".join(sorted(plain.kanji.chinese))[:3000]
    found = run(plain, view(chinese * 6, subject="会議のお知らせです。ご確認をお願いします。" * 50))
    assert KANJI not in found  # the Chinese never sits among kana


def test_a_hundred_thousand_lines(analyzer: JapaneseTextAnalyzer) -> None:
    body = "お 願 い し ま す 三 井 住 友 カ ー ド\n" * 100_000
    found = run(analyzer, view(body, html_text=body.replace(" ", "")))
    assert all(len(e) <= 300 for fs in found.values() for f in fs for e in f.evidence)


def test_hostile_regex_food(analyzer: JapaneseTextAnalyzer) -> None:
    # long runs of what the patterns' quantifiers chew on: spaces, digits and commas, dots, lines without ends
    for body in (
        "お" + " " * MiB + "願い",
        "の" * 10 + ", 123" * 200_000,
        "親愛なる" + "あ" * MiB,
        "です。" + "x" * MiB + "である。",
        "カ" + "\u2061" * MiB + "ド",
        "の" * 10 + "merry" + " " * MiB,
        "お願いします。" + "a" * MiB,
        "お願いします。" + "a@" * MiB,
    ):
        found = run(analyzer, view(body))
        assert all(len(e) <= 300 for fs in found.values() for f in fs for e in f.evidence)


def test_deadline_is_checked(plain: JapaneseTextAnalyzer) -> None:
    with pytest.raises(DeadlineExceeded):
        list(plain.analyze(view("会议资料を添付いたします。ご确认ください。"), Ctx(deadline_after=0)))  # type: ignore[arg-type]


# -- in the engine ------------------------------------------------------------------------------------------------
def test_in_the_engine_on_a_real_message() -> None:
    engine = Engine(analyzers=[*default_analyzers(), JapaneseTextAnalyzer()])
    raw = make_message(
        subject="謹賀新年",
        body="明けましておめでとうございます。メリークリスマス！\n添付の会议资料をご確認するようお願いいたします。\n",
    )
    report = engine.scan(raw)
    ids = report.finding_ids()
    assert KANJI in ids and PHRASE in ids
    assert not [n for n in report.notes if n.kind.value == "crashed"]
    assert all(f.weight > 0 for f in report.findings if f.id in (KANJI, PHRASE))

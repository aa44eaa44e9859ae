"""password_candidates: values after cue words in Japanese and English mail, ranking, folding, limits, speed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from triage.config import rules_dir
from triage.errors import ConfigError
from triage.plugins import PasswordCandidate
from triage.unpack.passwords import DEFAULT_CUES, hint_of, load_cue_words, password_candidates
from triage.unpack.trials import in_order_for


def values(body: str, *, limit: int = 200, cues: tuple[str, ...] | None = None) -> list[str]:
    return [c.value for c in candidates([("body", body)], limit=limit, cues=cues)]


def candidates(
    texts: list[tuple[str, str]],
    *,
    wordlist: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
    limit: int = 200,
    cues: tuple[str, ...] | None = None,
) -> list[PasswordCandidate]:
    return password_candidates(texts, wordlist=wordlist, extra=extra, limit=limit, cues=cues)


# -- where the value is ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("パスワード：Abc12345", "Abc12345"),
        ("パスワード:abc123", "abc123"),
        ("パスワードは abc123 です。", "abc123"),
        ("パスワードはabc123です。", "abc123"),
        ("解凍パスワード＝xyz789", "xyz789"),
        ("【パスワード】 q1w2e3", "q1w2e3"),
        ("パスワード(半角英数)：pa55word", "pa55word"),
        ("パスワ一ドは「Kd83jq」です", "Kd83jq"),
        ("PW: abc", "abc"),
        ("P/W：zz99", "zz99"),
        ("pass=1234", "1234"),
        ("The password is xyz", "xyz"),
        ("Password: s3cr3t.", "s3cr3t"),
        ("password is: Open-Me!", "Open-Me!"),
        ("The password for the attachment is: 7Hk2pQ", "7Hk2pQ"),
        ("暗証番号：0501", "0501"),
        ("ﾊﾟｽﾜｰﾄﾞ：hw1234", "hw1234"),
        ("ＰＷ：ｋｅｙ９９", "key99"),
        ("（パスワード：k9k9k9）", "k9k9k9"),
    ],
)
def test_value_after_a_cue(body: str, expected: str) -> None:
    assert values(body)[0] == expected


def test_ascii_after_japanese_colon() -> None:
    found = candidates([("body", "お世話になっております。\n添付資料のパスワード：Xq7#mP2\nよろしくお願いします。")])
    assert found[0] == PasswordCandidate("Xq7#mP2", "body", hint="archive")  # 添付: the attachment


def test_full_width_value_is_folded_and_kept_raw() -> None:
    assert values("パスワード　ＡＢＣ１２３")[:2] == ["ABC123", "ＡＢＣ１２３"]
    assert values("パスワード：ＡＢＣ１２３。")[:2] == ["ABC123", "ＡＢＣ１２３"]


@pytest.mark.parametrize("quotes", ["「」", "『』", "【】", "“”", '""', "''"])
def test_quoted_value(quotes: str) -> None:
    opening, closing = quotes[0], quotes[1]
    assert values(f"パスワードは{opening}Hello World 1{closing}です。")[0] == "Hello World 1"


def test_quoted_value_outranks_unquoted() -> None:
    body = "PW: first1\nパスワードは「second2」です"
    assert values(body)[:2] == ["second2", "first1"]


def test_value_on_the_next_line() -> None:
    assert values("パスワード\n　ABC123\n")[0] == "ABC123"
    assert values("■パスワード\n\n  > K9x-22z\n")[0] == "K9x-22z"
    assert values("パスワードは以下の通りです。\n\n　ＡＢＣ１２３\n")[:2] == ["ABC123", "ＡＢＣ１２３"]
    assert values("【解凍パスワード】\n「q!w2e3」\n")[0] == "q!w2e3"
    assert values("Password below:\nZ9z9z9\n")[0] == "Z9z9z9"


@pytest.mark.parametrize(
    "body",
    [
        "パスワードは別途お送りします。",
        "添付ファイルのパスワードは、別メールにてお送りいたします。\n\nTanaka",
        "パスワードは後ほどご連絡します。\nabc123",
        "パスワードをお忘れの方はこちら",
        "パスポート番号の確認をお願いします。",
        "キーボードを交換しました。",
        "I will pass the document to you.\nRegards,",
        "Please enter your password on the site.",
    ],
)
def test_no_candidate_in_ordinary_sentences(body: str) -> None:
    assert values(body) == []


def test_trailing_punctuation_and_unbalanced_brackets_are_stripped() -> None:
    assert values("パスワード：abc123。")[0] == "abc123"
    assert values("パスワード：abc123、ご確認ください")[0] == "abc123"
    assert values("(PW: abc123)")[0] == "abc123"
    assert values("password: a.b.c,")[0] == "a.b.c"


def test_value_ends_at_whitespace_unless_quoted() -> None:
    assert values("パスワード：abc def")[0] == "abc"
    assert values("パスワード：「abc def」")[0] == "abc def"


def test_password_like_tokens_on_a_cue_line_come_after_cue_values() -> None:
    found = values("パスワード：first9 （有効期限 2024/05/01）")
    assert found[0] == "first9"
    assert "2024/05/01" in found


def test_standalone_quoted_tokens_rank_below_cue_values() -> None:
    body = "資料番号「X-2024-01」をご確認ください。\nPW: real1234"
    assert values(body) == ["real1234", "X-2024-01"]


def test_several_cues_on_one_line() -> None:
    assert values("ZIPパスワード：zip999 / 解凍キー：key888")[:2] == ["zip999", "key888"]


def test_subject_and_html_sources() -> None:
    found = candidates([("body", "本文です"), ("html", "パスワード：fromHtml1"), ("subject", "【PW:subj42】")])
    # Rank first, then the order of the texts.
    assert [(c.value, c.source) for c in found][:2] == [("fromHtml1", "html"), ("subj42", "subject")]


# -- ranking, dedupe, limit ----------------------------------------------------------------------------------------


def test_order_extra_then_message_then_wordlist() -> None:
    found = candidates([("body", "パスワード：fromBody1")], wordlist=("infected", "1234"), extra=("cliPass",))
    assert [(c.value, c.source) for c in found] == [
        ("cliPass", "cli"),
        ("fromBody1", "body"),
        ("infected", "list"),
        ("1234", "list"),
    ]


def test_dedupe_keeps_the_first_source() -> None:
    found = candidates(
        [("body", "PW: same123"), ("html", "PW: same123")], wordlist=("same123", "other"), extra=("", "x" * 65)
    )
    assert [(c.value, c.source) for c in found] == [("same123", "body"), ("other", "list")]


def test_limit() -> None:
    body = "\n".join(f"PW: value{i}" for i in range(50))
    assert values(body, limit=10) == [f"value{i}" for i in range(10)]
    assert values(body, limit=0) == []
    assert len(candidates([("body", body)], wordlist=tuple(f"w{i}" for i in range(100)), limit=120)) == 120


def test_values_longer_than_64_are_dropped() -> None:
    assert values("PW: " + "a" * 65) == []
    assert values("PW: " + "a" * 64) == ["a" * 64]


def test_custom_cues() -> None:
    assert values("合鍵番号: 9876", cues=("合鍵番号",)) == ["9876"]
    assert values("パスワード：abc123", cues=("合鍵番号",)) == []
    assert values("パスワード：abc123", cues=()) == []


# -- what each password opens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "hint"),
    [
        ("パスワード", ""),
        ("password", ""),  # "word" inside "password" is no Word document
        ("解凍パスワード", "archive"),
        ("ＺＩＰファイルのパスワード", "archive"),
        ("添付ファイルのパスワード", "archive"),
        ("文書を開くパスワード", "document"),
        ("ワードファイルのパスワード", "document"),
        ("The password for the Word file", "document"),
        ("PDF password", "document"),
        ("添付文書のパスワード", ""),  # both: says nothing
        ("library password", ""),  # "rar" inside a word is no RAR archive
    ],
)
def test_hint_of_the_words_before_a_cue(context: str, hint: str) -> None:
    assert hint_of(context) == hint


def test_two_passwords_each_say_what_they_open() -> None:
    body = (
        "添付ファイルのパスワード：Zip2026\n文書を開くパスワード：Doc2026\n"
        "ZIPのパスワード: aaa111 / PDFのパスワード: bbb222\nパスワード\n  xyz123\n"
    )
    found = {c.value: c.hint for c in candidates([("body", body)])}
    assert found == {
        "Zip2026": "archive",
        "Doc2026": "document",
        "aaa111": "archive",
        "bbb222": "document",
        "xyz123": "",
    }


def test_a_container_tries_the_passwords_said_to_open_its_kind_first() -> None:
    cli = PasswordCandidate("analyst", "cli")
    zip_pw = PasswordCandidate("Zip2026", "body", hint="archive")
    doc_pw = PasswordCandidate("Doc2026", "body", hint="document")
    loose = PasswordCandidate("maybe1", "body")
    listed = PasswordCandidate("infected", "list")
    found = [cli, zip_pw, doc_pw, loose, listed]
    assert in_order_for(found, "document") == [cli, doc_pw, loose, zip_pw, listed]
    assert in_order_for(found, "archive") == [cli, zip_pw, loose, doc_pw, listed]
    assert in_order_for(found, "") == found
    # no hint at all: the found order, untouched
    assert in_order_for([cli, loose, listed], "document") == [cli, loose, listed]


def test_empty_texts() -> None:
    assert candidates([("body", ""), ("subject", "")], wordlist=("infected",)) == [
        PasswordCandidate("infected", "list")
    ]


# -- the shipped lists ---------------------------------------------------------------------------------------------


def test_keyword_file_matches_the_built_in_cues() -> None:
    assert load_cue_words(rules_dir() / "lists" / "password_keywords.txt") == DEFAULT_CUES


def test_password_list_is_clean() -> None:
    lines = (rules_dir() / "lists" / "passwords.txt").read_text(encoding="utf-8").splitlines()
    words = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert "infected" in words and "1234" in words
    assert len(words) == len(set(words))
    assert all(len(w) <= 64 for w in words)


def test_missing_keyword_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_cue_words(tmp_path / "nope.txt")


# -- speed: measured, not asserted (DESIGN §8) ----------------------------------------------------------------------


def test_one_mebibyte_body_with_hundreds_of_cue_words(record_property: Callable[[str, object], None]) -> None:
    cues = DEFAULT_CUES + tuple(f"キーワード{i}" for i in range(300)) + tuple(f"cue{i}x" for i in range(300))
    shapes = {
        "mixed": "こんにちは。パスワード：abc123 です。PW: x1 password is y2\n通常の本文です。\n",
        "cue-only lines": "pw\n",
        "one long line": "パスワード " + "a" * 50,
        "brackets": "パスワード" + "(" * 200 + "\n",
        "quotes": '"abcd123" 「q1w2」 ',
        "no cues": "あいうえおかきくけこ" * 20 + "\n",
    }
    for label, unit in shapes.items():
        body = (unit * (2**20 // len(unit) + 1))[: 2**20]
        started = time.perf_counter()
        found = candidates([("body", body), ("html", body)], wordlist=("infected",), cues=cues)
        record_property(label, round(time.perf_counter() - started, 3))
        assert 1 <= len(found) <= 200

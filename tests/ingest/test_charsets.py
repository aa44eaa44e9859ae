"""decode_bytes and decode_header_value: Japanese charsets as they really arrive, and input that must not raise."""

from __future__ import annotations

import base64
import random
import re

import pytest

from triage.ingest import charsets
from triage.ingest.charsets import (
    _unfold,
    decode_base64_lenient,
    decode_bytes,
    decode_header_value,
    decode_header_with_charsets,
    normalise_charset,
)

JA = "会議の資料を送付いたします。ご確認ください。"


def test_iso_2022_jp() -> None:
    assert decode_bytes(JA.encode("iso2022_jp"), "ISO-2022-JP") == (JA, "iso2022_jp")


def test_nec_special_characters_in_iso_2022_jp() -> None:
    # CP50220 writes NEC row 13 (①, ㈱) under ESC $ B: JIS 0x2D21 and 0x2D6A; no stdlib codec accepts them
    data = b"\x1b$B\x2d\x21\x2d\x6a" + "会議".encode("iso2022_jp")[3:-3] + b"\x1b(B"
    text, used = decode_bytes(data, "iso-2022-jp")
    assert text == "①㈱会議"
    assert used == "iso2022_jp_ms"


def test_ibm_extension_in_iso_2022_jp() -> None:
    # CP50221 writes 髙 (NEC-selected IBM extension, CP932 0xEEE0) as JIS row 92: 0x7C62
    assert decode_bytes(b"\x1b$B\x7c\x62\x1b(B", "ISO-2022-JP") == ("髙", "iso2022_jp_ms")


def test_cp932_mislabelled_as_iso_2022_jp() -> None:
    data = (JA + "①").encode("cp932")
    assert decode_bytes(data, "iso-2022-jp") == (JA + "①", "cp932")


def test_utf8_mislabelled_as_iso_2022_jp() -> None:
    assert decode_bytes(JA.encode("utf-8"), "iso-2022-jp") == (JA, "utf-8")


@pytest.mark.parametrize("label", ["shift_jis", "Shift_JIS", "sjis", "x-sjis", "windows-31j", "ms_kanji"])
def test_shift_jis_labels_use_cp932(label: str) -> None:
    data = "①髙橋㈱".encode("cp932")
    assert decode_bytes(data, label) == ("①髙橋㈱", "cp932")


def test_euc_jp_falls_back_to_euc_jis_2004() -> None:
    text = "俱楽部"  # 俱 is JIS X 0213 only
    assert decode_bytes(text.encode("euc_jis_2004"), "euc-jp") == (text, "euc_jis_2004")


def test_euc_jp_mislabelled_as_iso_2022_jp() -> None:
    assert decode_bytes(JA.encode("euc_jp"), "iso-2022-jp") == (JA, "euc_jp")


@pytest.mark.parametrize("label", ["gb2312", "GBK", "x-gbk", "gb18030"])
def test_chinese_labels_use_gb18030(label: str) -> None:
    text = "会议资料请查收"
    assert decode_bytes(text.encode("gb18030"), label) == (text, "gb18030")


@pytest.mark.parametrize(
    "label",
    [
        None,
        "",
        "bogus-charset",
        "unknown-8bit",
        "x-unknown",
        "zlib",
        "base64",
        "rot13",
        "undefined",
        "unicode_escape",
        "\x00" * 300,
    ],
)
def test_unknown_or_bogus_labels_detect(label: str | None) -> None:
    assert decode_bytes(JA.encode("utf-8"), label) == (JA, "utf-8")
    assert decode_bytes(JA.encode("cp932"), label) == (JA, "cp932")
    assert decode_bytes(JA.encode("euc_jp"), label)[0] == JA


def test_unknown_label_latin_text_is_not_read_as_japanese() -> None:
    text = "Préférence confirmée: Größe"
    assert decode_bytes(text.encode("latin-1"), None)[0] == text


def test_latin1_label_on_utf8_bytes() -> None:
    assert decode_bytes(JA.encode("utf-8"), "iso-8859-1") == (JA, "utf-8")


def test_utf8_with_a_stray_bad_byte_stays_utf8() -> None:
    data = JA.encode("utf-8") + b"\xff" + JA.encode("utf-8")
    text, used = decode_bytes(data, "utf-8")
    assert used == "utf-8"
    assert text == JA + "\ufffd" + JA


def test_mostly_invalid_utf8_is_another_encoding() -> None:
    assert decode_bytes(JA.encode("cp932"), "utf-8") == (JA, "cp932")


def test_last_resort_is_latin1() -> None:
    data = bytes(range(0x80, 0x100))
    text, used = decode_bytes(data, None)
    assert len(text) == len(data)
    assert used == "iso8859-1"


def test_ascii_fast_path_and_empty() -> None:
    assert decode_bytes(b"hello", "utf-8") == ("hello", "utf-8")
    assert decode_bytes(b"", None) == ("", "ascii")


def test_normalise_charset() -> None:
    assert normalise_charset(' "Shift_JIS" ') == "cp932"
    assert normalise_charset("EUC-JP") == "euc_jp"
    assert normalise_charset("koi8-r") == "koi8-r"
    assert normalise_charset("zlib") is None
    assert normalise_charset("no-such-thing") is None


def test_random_bytes_never_raise() -> None:
    rng = random.Random(20261116)
    labels = [None, "iso-2022-jp", "utf-8", "shift_jis", "euc-jp", "gb2312", "us-ascii", "utf-16", "utf-7", "junk"]
    for _ in range(400):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        if rng.random() < 0.3:
            data = b"\x1b$B" + data
        text, used = decode_bytes(data, rng.choice(labels))
        assert isinstance(text, str)
        assert used


# -- headers ------------------------------------------------------------------------------------------------------


def _b(text: str, charset: str) -> str:
    codec = {"iso-2022-jp": "iso2022_jp"}.get(charset.lower(), charset)
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def test_rfc2047_iso_2022_jp_subject() -> None:
    assert decode_header_value(_b("会議のご案内", "ISO-2022-JP")) == "会議のご案内"


def test_rfc2047_words_folded_and_whitespace_between_them_dropped() -> None:
    value = _b("会議の", "ISO-2022-JP") + "\r\n " + _b("ご案内", "ISO-2022-JP") + " (再送)"
    assert decode_header_value(value) == "会議のご案内 (再送)"


def test_rfc2047_multibyte_split_across_words_without_whitespace() -> None:
    data = "添付ファイル".encode()
    w1 = base64.b64encode(data[:4]).decode()
    w2 = base64.b64encode(data[4:]).decode()
    assert decode_header_value(f"=?UTF-8?B?{w1}?==?utf-8?B?{w2}?=") == "添付ファイル"


def test_rfc2047_q_encoding_and_plain_text_around() -> None:
    assert decode_header_value("Re: =?utf-8?Q?caf=C3=A9_au_lait?= !") == "Re: café au lait !"


def test_rfc2047_shift_jis_and_language_suffix() -> None:
    sjis = base64.b64encode("請求書".encode("cp932")).decode()
    assert decode_header_value(f"=?Shift_JIS*ja?B?{sjis}?=") == "請求書"


def test_rfc2047_bad_base64_does_not_raise() -> None:
    assert decode_header_value("=?utf-8?B?5pel5pys6Kqe?=") == "日本語"
    assert decode_header_value("=?utf-8?B?5pel5pys6K?=").startswith("日本")
    assert isinstance(decode_header_value("=?utf-8?B?!!!?= x"), str)


def test_rfc2047_unknown_charset_is_detected() -> None:
    word = base64.b64encode("日本語".encode()).decode()
    assert decode_header_value(f"=?x-bogus?B?{word}?=") == "日本語"


def test_raw_8bit_header_from_surrogateescape() -> None:
    raw = "Re: " + "日本語の件名".encode().decode("ascii", errors="surrogateescape")
    assert decode_header_value(raw) == "Re: 日本語の件名"
    raw_sjis = "日本語の件名".encode("cp932").decode("ascii", errors="surrogateescape")
    assert decode_header_value(raw_sjis) == "日本語の件名"


def test_raw_8bit_header_uses_charset_hint() -> None:
    raw = "台湾鑫龙商贸集团".encode("gb2312").decode("ascii", errors="surrogateescape")
    assert decode_header_value(raw, "gb2312") == "台湾鑫龙商贸集团"


def test_crlf_is_removed() -> None:
    assert "\n" not in decode_header_value("a\r\n b")
    word = base64.b64encode(b"evil\r\nBcc: x@example.com").decode()
    assert decode_header_value(f"=?utf-8?B?{word}?=") == "evilBcc: x@example.com"


def test_declared_charsets_are_reported() -> None:
    text, charsets = decode_header_with_charsets(_b("会议", "GB2312") + " " + _b("会議", "ISO-2022-JP"))
    assert text == "会议会議"
    assert charsets == ("gb2312", "iso-2022-jp")


def test_hostile_header_values_finish() -> None:
    for value in ("=?" * 100_000, "=?a?b?" * 50_000, "=?utf-8?B?" + "A" * 300_000 + "?=", "\udcff" * 100_000):
        assert isinstance(decode_header_value(value), str)


def test_base64_lenient() -> None:
    assert decode_base64_lenient(b"aGVsbG8gd29ybGQ") == b"hello world"  # padding missing
    assert decode_base64_lenient(b"aGVs\nbG8g*d29y!bGQ=") == b"hello world"  # junk inside
    assert decode_base64_lenient(b"QQ==QQ==") == b"AA"  # concatenated chunks
    assert decode_base64_lenient(b"aGVsbG8gd29ybGQhI") == b"hello world!"  # a dangling character
    assert decode_base64_lenient(b"") == b""


# -- fast paths: each must give what the general path gives --------------------------------------------------------


def test_base64_in_lines_decodes_like_the_lenient_path() -> None:
    # CRLF-broken base64 takes the fast path; spaces instead of line breaks force the junk-cleaning path
    rng = random.Random(20261126)
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        encoded = base64.b64encode(data)
        lines = [encoded[i : i + rng.randint(1, 20)] for i in range(0, len(encoded), 20)]
        broken = rng.choice([b"\r\n", b"\n", b"\r"]).join(lines) + rng.choice([b"", b"\r\n"])
        if rng.random() < 0.3 and broken:
            pos = rng.randrange(len(broken))
            broken = broken[:pos] + rng.choice([b"=", b"A", b"\n", b"."]) + broken[pos + 1 :]
        slow = broken.replace(b"\r", b" ").replace(b"\n", b" ")
        assert decode_base64_lenient(broken) == decode_base64_lenient(slow), broken


def _unfold_reference(value: str) -> str:
    return re.sub(r"\r?\n[ \t]*|\r", " ", value)


def test_unfolding_matches_the_rfc_5322_pattern() -> None:
    rng = random.Random(5322)
    for _ in range(5000):
        value = "".join(rng.choice(["a", " ", "\t", "\r", "\n", "\r\n", "\r\n\t", "\n "]) for _ in range(12))
        assert _unfold(value) == _unfold_reference(value), repr(value)


def test_encoded_word_runs_decode_like_the_word_by_word_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    words = [
        "=?utf-8?B?44GC?=",
        "=?UTF-8?b?44GE?=",
        "=?utf-8?B?44?=",  # a multibyte character split across words, unpadded
        "=?utf-8?B?gg==?=",
        "=?utf-8?Q?=E3=81=86?=",
        "=?utf-8?q?a_b?=",
        "=?iso-2022-jp?B?GyRCJCIbKEI=?=",
        "=?utf-8?B?QQ=QQ?=",  # bad base64 in the middle of a word
        "=?utf-8?B??=",
    ]
    glue = [" ", "", "\r\n ", "\t", " x ", "\udce3"]
    rng = random.Random(2047)
    cases = [" ".join(["=?utf-8?B?UmlSN1l2d2NpYXdIL1NHalpm?="] * 60) + " =?utf-8?Q?/Vfb2fZpti72pwG8nc?="]
    for _ in range(3000):
        parts = [rng.choice(words) + rng.choice(glue) for _ in range(rng.randint(1, 6))]
        cases.append(rng.choice(["", "Re: ", " "]) + "".join(parts) + rng.choice(["", " tail", "\udcff"]))
    fast = [decode_header_with_charsets(value, "cp932") for value in cases]
    monkeypatch.setattr(charsets, "_one_run", lambda parts: None)
    slow = [decode_header_with_charsets(value, "cp932") for value in cases]
    assert fast == slow


def _japanese_score_reference(text: str) -> int:
    score = 0
    for ch in text[: charsets._SCORE_SAMPLE]:
        o = ord(ch)
        if o < 0x80:
            continue
        if 0x3040 <= o <= 0x309F:
            score += 3
        elif 0x30A0 <= o <= 0x30FF or 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F or 0xFF01 <= o <= 0xFF5E:
            score += 1
        elif 0xFF61 <= o <= 0xFF9F:
            score -= 2
        else:
            score -= 1
    return score


def _latin_score_reference(text: str) -> int:
    score = 0
    sample = text[: charsets._SCORE_SAMPLE]
    for i, ch in enumerate(sample):
        if ord(ch) < 0x80:
            continue
        prev = sample[i - 1] if i else ""
        nxt = sample[i + 1] if i + 1 < len(sample) else ""
        near_word = (prev.isascii() and prev.isalpha()) or (nxt.isascii() and nxt.isalpha())
        score += 1 if ch.isalpha() and near_word else -1
    return score


def test_scores_count_like_the_character_loop() -> None:
    pool = "aZ é漢あア｡ｱ、！ＡÀß\u3000\u309f\u30a0\u9fff\uff5e\uff61\uff9f\uff60\u4dff\udc80²½Ⅻ\u0301x1_-\n"
    rng = random.Random(932)
    texts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 24))) for _ in range(5000)]
    texts.append("é" * (charsets._SCORE_SAMPLE - 1) + "ab" + "あ" * 10)  # the sample cut next to a letter
    for text in texts:
        assert charsets._japanese_score(text) == _japanese_score_reference(text), repr(text)
        assert charsets._latin_score(text) == _latin_score_reference(text), repr(text)

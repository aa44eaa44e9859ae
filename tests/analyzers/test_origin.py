"""ForeignOriginAnalyzer: HEADER_FOREIGN_ORIGIN for each reason — must fire and must not fire."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, make_message

from triage.analyzers.origin import (
    CHINESE_CHARSETS,
    ForeignOriginAnalyzer,
    is_japanese,
    parse_mailers,
    utc_offset,
)
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import Finding, Hop, MessageInfo
from triage.plugins import Analyzer, MessageView
from triage.registry import default_analyzers

JA_BODY = "いつもお世話になっております。\n添付の資料をご確認ください。\nよろしくお願いいたします。"
ZH_BODY = "您好，附件是本次会议的资料，请查收。如有问题请随时联系我们。"
EN_BODY = "Hello, please find the quarterly report attached. Best regards, Wei"
JST = "Mon, 16 Nov 2026 10:00:00 +0900"
CST = "Mon, 16 Nov 2026 09:00:00 +0800"


@pytest.fixture(scope="module")
def analyzer() -> ForeignOriginAnalyzer:
    plugin = ForeignOriginAnalyzer()
    plugin.setup(load_config())
    return plugin


def view(
    *,
    subject: str = "資料送付の件",
    text: str = JA_BODY,
    html: str = "",
    html_text: str = "",
    charsets: Sequence[str] = ("utf-8",),
    date: str | None = JST,
    received: Sequence[str | None] = (),
    x_mailer: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> MessageView:
    info = MessageInfo(
        subject=subject,
        date=date,
        received=tuple(Hop(raw=f"from a by b; {d}", by="mx.example.net", date=d) for d in received),
    )
    return MessageView(
        info=info,
        artifact="a0",
        headers=tuple(headers),
        text=text,
        html_text=html_text,
        html=html,
        defects=(),
        charsets=tuple(charsets),
        x_mailer=x_mailer,
    )


def run(analyzer: ForeignOriginAnalyzer, target: MessageView) -> Finding | None:
    findings = list(analyzer.analyze(target, None))  # type: ignore[arg-type] - the analyzer needs no context
    assert len(findings) <= 1, "one finding per message at most"
    for f in findings:
        assert f.id == "HEADER_FOREIGN_ORIGIN" and f.artifact == "a0" and f.analyzer == "origin"
        assert 0 < f.strength <= 1 and f.evidence
        assert not any(
            unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"} for item in f.evidence for ch in item
        ), f.evidence
    return findings[0] if findings else None


# -- (a) Chinese charsets ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "charset", ["gb2312", "gbk", "gb18030", "big5", "big5-hkscs", "hz-gb-2312", "euc-cn", "cp936", "x-gbk"]
)
def test_chinese_charset_on_japanese_text(analyzer: ForeignOriginAnalyzer, charset: str) -> None:
    found = run(analyzer, view(charsets=("us-ascii", charset)))
    assert found is not None and found.strength == 1.0
    assert found.evidence == (f"Chinese charset {charset} declared on Japanese text",)


def test_chinese_charset_in_subject_only_counts_when_the_subject_is_japanese(
    analyzer: ForeignOriginAnalyzer,
) -> None:
    found = run(analyzer, view(subject="会議のお知らせです", text="", charsets=("gb2312",)))
    assert found is not None and found.strength == 1.0


def test_every_listed_charset_is_lower_case() -> None:
    assert all(c == c.lower().strip() for c in CHINESE_CHARSETS)


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("会议通知", ZH_BODY),  # Chinese mail to Chinese readers
        ("新品上市", "小清新の风格，全场包邮！" + ZH_BODY * 3),  # a stray の in Chinese marketing
        ("Report", EN_BODY),
    ],
)
def test_chinese_charset_without_japanese_text_does_not_fire(
    analyzer: ForeignOriginAnalyzer, subject: str, text: str
) -> None:
    assert run(analyzer, view(subject=subject, text=text, charsets=("gb2312",))) is None


@pytest.mark.parametrize("charset", ["iso-2022-jp", "utf-8", "shift_jis", "euc-jp", "cp932", "windows-31j"])
def test_plain_japanese_message_does_not_fire(analyzer: ForeignOriginAnalyzer, charset: str) -> None:
    assert run(analyzer, view(charsets=(charset,), x_mailer="Microsoft Outlook 16.0", received=(JST,))) is None


# -- (b) UTC+08:00 -----------------------------------------------------------------------------------------------
def test_date_in_plus_0800_with_japanese_body(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(analyzer, view(date=CST))
    assert found is not None and found.strength == 0.6
    assert found.evidence == (f"Date in UTC+08:00 (China/Taiwan/HK/SG/PH): {CST}; Japanese body",)


def test_date_and_received_in_plus_0800_agree(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(analyzer, view(date=CST, received=(JST, "Mon, 16 Nov 2026 09:00:01 +0800 (CST)")))
    assert found is not None and found.strength == 0.8
    assert "Received hop by mx.example.net stamped UTC+08:00" in found.evidence[0]


def test_received_alone_in_plus_0800_is_weaker(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(analyzer, view(received=("Mon, 16 Nov 2026 09:00:01 +0800",)))
    assert found is not None and found.strength == 0.4


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Quarterly report", EN_BODY),  # English mail from Singapore
        ("資料送付の件", EN_BODY),  # a Japanese subject is not a Japanese body
        ("会议通知", ZH_BODY),
    ],
)
def test_plus_0800_without_japanese_body_does_not_fire(
    analyzer: ForeignOriginAnalyzer, subject: str, text: str
) -> None:
    assert run(analyzer, view(subject=subject, text=text, date=CST, received=(CST,))) is None


@pytest.mark.parametrize(
    "date",
    [
        JST,
        "Mon, 16 Nov 2026 10:00:00 +0000",
        "Mon, 16 Nov 2026 10:00:00 -0800 (PST)",
        "Mon, 16 Nov 2026 10:00:00 +0845",
        "Mon, 16 Nov 2026 10:00:00 CST",  # US Central to parsedate_tz; never guessed to be China
    ],
)
def test_other_zones_do_not_fire(analyzer: ForeignOriginAnalyzer, date: str) -> None:
    assert run(analyzer, view(date=date, received=(date,))) is None


@pytest.mark.parametrize(
    "date",
    [
        None,
        "",
        "+0800",
        "garbage +0800",
        "Mon, 32 Foo 99999 99:99:99 +0800",
        "Mon, 16 Nov 2026 10:00:00 +08",
        "Mon, 16 Nov 2026 10:00:00 +0800" + " x" * 5000,
        "\x00\u202e+0800",
    ],
)
def test_date_parsing_never_raises(analyzer: ForeignOriginAnalyzer, date: str | None) -> None:
    offset = utc_offset(date)
    assert offset is None or isinstance(offset, int)
    run(analyzer, view(date=date, received=(date,)))


# -- (c) Chinese mail clients ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mailer",
    [
        "Foxmail 7.2.23.116[cn]",
        "Foxmail 7, 2,53,  24[cn]",
        "NetEase Flash Mail 2.4.1.32",
        "网易邮箱大师",
        "Coremail Webmail Server Version XT5.0.13 build 20210104(ab8c30b6)",
        "263EM",
        "QQMail 2.x",
        "Tencent Mail",
        "Sina WebMail 4.0",
        "Sohu Web Mail",
        "eYou WebMail",
        "Alimail-Mailagent191",
        "ALIMAIL",
        "Founder Mail Client",
    ],
)
def test_chinese_mail_client_with_japanese_text(analyzer: ForeignOriginAnalyzer, mailer: str) -> None:
    found = run(analyzer, view(x_mailer=mailer, headers=[("X-Mailer", mailer)]))
    assert found is not None and found.strength == 0.8
    assert found.evidence[0].startswith(f"X-Mailer: {' '.join(mailer.split())} (Chinese mail client: ")
    assert found.evidence[0].endswith("; Japanese text")


def test_chinese_mail_client_without_japanese_text_is_weak(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(analyzer, view(subject="Report", text=EN_BODY, x_mailer="Foxmail 4.1 [cn]"))
    assert found is not None and found.strength == 0.4
    assert found.evidence == ("X-Mailer: Foxmail 4.1 [cn] (Chinese mail client: Foxmail)",)


def test_user_agent_is_named_in_evidence(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(analyzer, view(x_mailer="Foxmail 7.2", headers=[("User-Agent", "Foxmail 7.2")]))
    assert found is not None and found.evidence[0].startswith("User-Agent: Foxmail 7.2")


@pytest.mark.parametrize(
    "mailer",
    [
        "Microsoft Outlook 16.0",
        "Microsoft Outlook Express 6.00.2600.0000",
        "Microsoft Office Outlook 12.0 build 4518.1014 (v1.263)",  # 263 inside a version number
        "Becky! ver. 2.81.06",
        "Mozilla Thunderbird",
        "Cassina mailer 1.0",  # "sina" inside a word
        "Apple Mail (2.3654.120.0.1.13)",
        "iPhone Mail (16A366)",
    ],
)
def test_other_mail_clients_do_not_fire(analyzer: ForeignOriginAnalyzer, mailer: str) -> None:
    assert run(analyzer, view(x_mailer=mailer)) is None


def test_mailer_evidence_is_escaped(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(analyzer, view(x_mailer="Foxmail\u202e 7.2"))
    assert found is not None and "\\u202e" in found.evidence[0]


# -- (d) HTML of Chinese locale ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("html", "shown"),
    [
        ('<p style="font-family:宋体">お世話になっております。</p>', "HTML fonts of Chinese locale: 宋体"),
        ("<p style='font-family: \"Microsoft YaHei\", sans-serif'>資料をご確認ください</p>", "Microsoft YaHei"),
        ('<font face="SimSun">よろしくお願いします</font>', "SimSun"),
        ("<style>p {font-family: PMingLiU;}</style>", "PMingLiU"),
        ('<html lang="zh-CN"><body>ご確認ください</body></html>', 'lang="zh-CN"'),
        ("<body lang=ZH-TW>ご確認ください</body>", 'lang="ZH-TW"'),
        ('<span style="mso-fareast-language:ZH-CN">資料</span>', "mso-fareast-language:ZH-CN"),
    ],
)
def test_chinese_html_fonts_or_lang_in_japanese_message(analyzer: ForeignOriginAnalyzer, html: str, shown: str) -> None:
    found = run(analyzer, view(html=html, html_text=JA_BODY, text=""))
    assert found is not None and found.strength == 0.6
    assert any(shown in line for line in found.evidence), found.evidence


@pytest.mark.parametrize(
    "html",
    [
        "<p style=\"font-family:'ＭＳ Ｐゴシック', Meiryo\">お世話になっております。</p>",
        '<html lang="ja"><body style="font-family:游ゴシック">ご確認ください</body></html>',
        "<body lang=JA style='mso-fareast-language:JA'>資料</body>",
        "<p>SimSun and lang=zh are only words in this text</p>",
    ],
)
def test_japanese_html_does_not_fire(analyzer: ForeignOriginAnalyzer, html: str) -> None:
    assert run(analyzer, view(html=html, html_text=JA_BODY, text="")) is None


def test_chinese_html_without_japanese_text_does_not_fire(analyzer: ForeignOriginAnalyzer) -> None:
    html = '<html lang="zh-CN"><body style="font-family:宋体">' + ZH_BODY + "</body></html>"
    assert run(analyzer, view(subject="会议通知", html=html, html_text=ZH_BODY, text="")) is None


# -- all reasons together ----------------------------------------------------------------------------------------
def test_reasons_make_one_finding_with_the_strongest_strength(analyzer: ForeignOriginAnalyzer) -> None:
    found = run(
        analyzer,
        view(
            charsets=("gb2312",),
            date=CST,
            x_mailer="Foxmail 7.2",
            html='<p style="font-family:SimSun">資料</p>',
            html_text=JA_BODY,
        ),
    )
    assert found is not None and found.strength == 1.0
    assert len(found.evidence) == 4
    assert found.evidence[0].startswith("Chinese charset gb2312")


def test_delivery_reports_are_skipped(analyzer: ForeignOriginAnalyzer) -> None:
    report = view(charsets=("gb2312",), headers=[("Content-Type", 'multipart/report; report-type="delivery-status"')])
    assert run(analyzer, report) is None


def test_is_japanese() -> None:
    assert is_japanese(["会議のお知らせ"])
    assert is_japanese(["", JA_BODY])
    assert not is_japanese([ZH_BODY, "小清新の"])
    assert not is_japanese([EN_BODY, ""])


# -- setup -------------------------------------------------------------------------------------------------------
def test_unknown_option_is_a_config_error() -> None:
    config = load_config(overrides={"analyzers": {"origin": {"mailer": "x.txt"}}})
    with pytest.raises(ConfigError, match="unknown option"):
        ForeignOriginAnalyzer().setup(config)


def test_missing_list_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(overrides={"analyzers": {"origin": {"mailers": str(tmp_path / "none.txt")}}})
    with pytest.raises(ConfigError, match="cannot read"):
        ForeignOriginAnalyzer().setup(config)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "no entries"),
        (["# only a comment", ""], "no entries"),
        (["re:(unclosed"], "invalid regular expression"),
        (["re:x*"], "empty string"),
        (["x" * 300], "longer than"),
    ],
)
def test_bad_mailer_lists(lines: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_mailers(lines, "test")


def test_setup_is_required() -> None:
    with pytest.raises(RuntimeError):
        list(ForeignOriginAnalyzer().analyze(view(x_mailer="Foxmail"), None))  # type: ignore[arg-type]


# -- through the engine ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine() -> Engine:
    others: list[Analyzer] = [a for a in default_analyzers() if a.name != ForeignOriginAnalyzer.name]
    return Engine(analyzers=[*others, ForeignOriginAnalyzer()])


def _raw(body: str, charset: str, *, date: str = JST, subject: str = "資料送付の件", mailer: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Taro Yamada <taro@example.co.jp>"
    msg["To"] = "hanako@example.jp"
    msg["Subject"] = subject
    msg["Date"] = date
    if mailer:
        msg["X-Mailer"] = mailer
    msg.set_content(body.encode(charset), maintype="text", subtype="plain", cte="base64")
    msg.set_param("charset", charset)
    return msg.as_bytes(policy=SMTP)


def _origin(engine: Engine, raw: bytes) -> list[Finding]:
    report = engine.scan(raw)
    assert not [n for n in report.notes if n.component == "origin"], report.notes
    return [f for f in report.findings if f.id == "HEADER_FOREIGN_ORIGIN"]


@pytest.mark.parametrize("charset", ["iso-2022-jp", "utf-8", "shift_jis", "euc-jp"])
def test_engine_plain_japanese_message_does_not_fire(engine: Engine, charset: str) -> None:
    assert _origin(engine, _raw(JA_BODY, charset)) == []


def test_engine_gb2312_japanese_message_fires(engine: Engine) -> None:
    body = "こんにちは。しりょうをおおくりします。よろしくおねがいします。"  # kana only: GB2312 encodes every one
    found = _origin(engine, _raw(body, "gb2312", date=CST, mailer="Foxmail 7.2.23.116[cn]"))
    assert len(found) == 1 and found[0].strength == 1.0
    assert found[0].evidence[0] == "Chinese charset gb2312 declared on Japanese text"
    assert len(found[0].evidence) == 3


def test_engine_chinese_message_to_chinese_readers_does_not_fire(engine: Engine) -> None:
    assert _origin(engine, _raw(ZH_BODY, "gb2312", subject="会议通知")) == []


def test_engine_make_message_plus_0800(engine: Engine) -> None:
    raw = make_message(body=JA_BODY)
    raw = raw.replace(b"+0900", b"+0800")
    found = _origin(engine, raw)
    assert len(found) == 1 and found[0].strength == 0.6


def test_engine_samples(engine: Engine) -> None:
    """Only the sample written to show Chinese-origin traces has them; every other one is Japanese from +0900."""
    fired = {path.name for path in sorted((ROOT / "samples").glob("*.eml")) if _origin(engine, path.read_bytes())}
    assert fired <= {"13_chinese_origin_japanese.eml"}


# -- real mail ---------------------------------------------------------------------------------------------------
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


@needs_corpus
def test_corpus_chinese_gb2312_and_big5_mail_does_not_fire(engine: Engine) -> None:
    cjk = sorted((CORPUS / "parser-fixtures" / "apache__spamassassin").glob("t__data__nice__cjk__*"))
    chinese = [p for p in cjk if "gb2312" in p.name or "big5" in p.name]
    assert chinese
    for path in chinese:
        assert _origin(engine, path.read_bytes()) == [], path.name


@needs_corpus
def test_corpus_japanese_spam_sent_from_plus_0800_fires(engine: Engine) -> None:
    folder = CORPUS / "mailing-lists" / "driverdev-devel-ja"
    fired = [p.name for p in sorted(folder.glob("*.eml")) if _origin(engine, p.read_bytes())]
    assert len(fired) >= 15, fired

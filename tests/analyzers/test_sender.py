"""SenderAnalyzer: government impersonation, reply-path mismatches, free mail posing as an organisation —
each finding with cases that must fire and cases that must not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from conftest import make_message

from triage.analyzers.sender import SenderAnalyzer, parse_authentication_results, signature_block
from triage.analyzers.urls import UrlAnalyzer
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import Authentication, Envelope, Finding, Hop, MessageInfo, NoteKind
from triage.plugins import MessageView
from triage.registry import default_analyzers


class Ctx:
    """The little of PluginContext a message analyzer uses."""

    artifact_id = "a0"

    def __init__(self) -> None:
        self.iocs: list[tuple[str, str]] = []

    def add_ioc(self, kind: str, value: str) -> None:
        self.iocs.append((kind, value))

    def check_deadline(self) -> None:
        pass


@pytest.fixture(scope="module")
def analyzer() -> SenderAnalyzer:
    plugin = SenderAnalyzer()
    plugin.setup(load_config())
    return plugin


def view(
    *,
    from_: str | None = "taro@example.co.jp",
    display: str | None = "山田 太郎",
    text: str = "いつもお世話になっております。\n資料をお送りします。\n",
    subject: str = "資料送付の件",
    reply_to: Sequence[str] = (),
    return_path: str | None = None,
    sender: str | None = None,
    to: Sequence[str] = ("hanako@example.jp",),
    headers: Sequence[tuple[str, str]] = (),
    auth: Authentication | None = None,
    received: Sequence[Hop] = (),
    envelope: Envelope | None = None,
    html_text: str = "",
) -> MessageView:
    info = MessageInfo(
        from_=from_,
        from_display=display,
        reply_to=tuple(reply_to),
        return_path=return_path,
        sender=sender,
        to=tuple(to),
        subject=subject,
        received=tuple(received),
        authentication=auth or Authentication(),
        artifact="a0",
    )
    return MessageView(
        info=info,
        artifact="a0",
        headers=tuple(headers),
        text=text,
        html_text=html_text,
        html="",
        defects=(),
        envelope=envelope,
    )


def run(analyzer: SenderAnalyzer, target: MessageView) -> dict[str, Finding]:
    findings = list(analyzer.analyze(target, Ctx()))  # type: ignore[arg-type]
    assert len({f.id for f in findings}) == len(findings), "one finding per id"
    for f in findings:
        assert f.id in analyzer.emits and f.analyzer == "sender" and f.artifact == "a0"
        assert 0 < f.strength <= 1
        assert all(isinstance(e, str) and e.isprintable() for e in f.evidence)
    return {f.id: f for f in findings}


SIGNATURE_MOD = "\n".join(
    [
        "お世話になっております。",
        "添付の資料をご確認ください。",
        "",
        "防衛省 防衛政策局 調査課",
        "山田 太郎",
        "TEL 03-0000-0000",
    ]
)


# -- SENDER_GOV_DISPLAY_NAME ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("display", "address", "strength"),
    [
        ("防衛省 人事教育局", "jinji@example.com", 1.0),
        ("経産省 商務情報政策局", "info@example.co.jp", 1.0),
        ("ＭＥＴＩ（経済産業省）", "info@example.net", 1.0),  # full width, NFKC
        ("Ministry of Economy, Trade and Industry", "info@example.net", 1.0),
        ("Ministry of Defense, Japan", "info@example.net", 1.0),
        ("NISC 内閣サイバーセキュリティセンター", "info@example.org", 1.0),
        ("防衛省", "someone@mofa.go.jp", 0.5),  # another ministry's domain: unusual, not impossible
        ("info@mod.go.jp", "x@example.com", 1.0),  # the display shows a go.jp address
    ],
)
def test_display_name_fires(analyzer: SenderAnalyzer, display: str, address: str, strength: float) -> None:
    found = run(analyzer, view(display=display, from_=address))
    finding = found["SENDER_GOV_DISPLAY_NAME"]
    assert finding.strength == strength
    assert display[:3].replace("Ｍ", "M") in " ".join(finding.evidence) or "display name" in finding.evidence[0]
    assert "From domain" in finding.evidence[-1]


def test_display_name_evidence_names_the_body_and_domain(analyzer: SenderAnalyzer) -> None:
    finding = run(analyzer, view(display="防衛省 人事教育局", from_="jinji@example.com"))["SENDER_GOV_DISPLAY_NAME"]
    assert finding.evidence[0] == 'display name "防衛省 人事教育局" names 防衛省 (mod.go.jp, jda.go.jp)'
    assert finding.evidence[1] == "From domain example.com is not a government domain"


def test_signature_claim_fires_weaker(analyzer: SenderAnalyzer) -> None:
    finding = run(analyzer, view(text=SIGNATURE_MOD, from_="yamada@example.co.jp"))["SENDER_GOV_DISPLAY_NAME"]
    assert finding.strength == 0.8
    assert "防衛省 防衛政策局 調査課" in finding.evidence[0]


@pytest.mark.parametrize(
    ("display", "address", "text"),
    [
        ("防衛省 人事教育局", "jinji@mod.go.jp", "本文"),  # the body's own domain
        ("防衛省 陸上幕僚監部", "x@gsdf.mod.go.jp", "本文"),  # a subdomain of it
        ("海上保安庁 総務部", "x@kaiho.mlit.go.jp", "本文"),  # a sub-agency under its parent's domain
        ("株式会社サンプル 財務部", "keiri@example.co.jp", "本文"),  # 財務 is not 財務省
        ("山田 太郎", "yamada@example.co.jp", "防衛省は本日、次の発表を行いました。\n詳しくは防衛省のサイトへ"),
        ("山田", "yamada@example.co.jp", "弊社は環境省エネルギー対策の\n株式会社環境省エネ研究所"),
        ("Ministry of Defence", "press@example.uk", "UK text"),  # generic English name without Japan
        ("MOD Team", "team@example.com", "mods"),  # generic acronym without Japan
        ("NISCO Trading", "sales@example.com", "本文"),  # NISC only as a whole word
        (None, "yamada@example.co.jp", "いつもお世話になっております。"),
    ],
)
def test_display_name_does_not_fire(analyzer: SenderAnalyzer, display: str | None, address: str, text: str) -> None:
    assert "SENDER_GOV_DISPLAY_NAME" not in run(analyzer, view(display=display, from_=address, text=text))


def test_signature_of_quoted_original_does_not_count(analyzer: SenderAnalyzer) -> None:
    text = "承知しました。\n\n-----Original Message-----\nFrom: 山田\n\n" + SIGNATURE_MOD
    assert "SENDER_GOV_DISPLAY_NAME" not in run(analyzer, view(text=text))
    quoted = "承知しました。\n\n" + "\n".join("> " + line for line in SIGNATURE_MOD.splitlines())
    assert "SENDER_GOV_DISPLAY_NAME" not in run(analyzer, view(text=quoted))


# -- SENDER_GOV_LOOKALIKE ------------------------------------------------------------------------------------
def test_lookalike_from(analyzer: SenderAnalyzer) -> None:
    finding = run(analyzer, view(from_="info@mod-go-jp.com", display="防衛省"))["SENDER_GOV_LOOKALIKE"]
    assert finding.strength == 1.0
    assert finding.evidence == ("From domain mod-go-jp.com imitates mod.go.jp (go-jp)",)


def test_lookalike_other_headers(analyzer: SenderAnalyzer) -> None:
    found = run(
        analyzer,
        view(
            reply_to=["reply@mofa.co.jp"],
            return_path="bounce@meti.go.jp.example.net",
            envelope=Envelope(mail_from="x@rnofa.com"),
        ),
    )
    evidence = found["SENDER_GOV_LOOKALIKE"].evidence
    assert "Reply-To domain mofa.co.jp imitates mofa.go.jp (mofa under .co.jp)" in evidence
    assert any(e.startswith("Return-Path domain meti.go.jp.example.net imitates meti.go.jp") for e in evidence)
    assert any(e.startswith("MAIL FROM domain rnofa.com imitates mofa.go.jp") for e in evidence)
    assert found["SENDER_GOV_LOOKALIKE"].strength == 1.0  # MAIL FROM counts like From


def test_lookalike_not_for_real_or_ordinary_domains(analyzer: SenderAnalyzer) -> None:
    for address in ("x@mod.go.jp", "x@pref.osaka.lg.jp", "x@example.co.jp", "x@gmail.com", "x@digital.com"):
        assert "SENDER_GOV_LOOKALIKE" not in run(analyzer, view(from_=address)), address


# -- SENDER_GOV_UNVERIFIED -----------------------------------------------------------------------------------
def _ar(value: str) -> tuple[str, str]:
    return ("Authentication-Results", value)


def _auth(value: str) -> Authentication:
    results = {c.method: c.result for c in parse_authentication_results(value)}
    return Authentication(spf=results.get("spf"), dkim=results.get("dkim"), dmarc=results.get("dmarc"))


def gov_view(
    ar: str | None = None, received: Sequence[Hop] = (), to: Sequence[str] = ("a@example.co.jp",)
) -> MessageView:
    return view(
        from_="kouhou@mod.go.jp",
        display="防衛省",
        headers=[_ar(ar)] if ar else [],
        auth=_auth(ar) if ar else None,
        received=received,
        to=to,
    )


def test_unverified_by_authentication(analyzer: SenderAnalyzer) -> None:
    found = run(
        analyzer,
        gov_view("mx.example.jp; spf=fail smtp.mailfrom=mod.go.jp; dkim=none; dmarc=fail header.from=mod.go.jp"),
    )
    finding = found["SENDER_GOV_UNVERIFIED"]
    assert finding.strength == 1.0
    assert finding.evidence[0].startswith("From mod.go.jp: DMARC fail (spf=fail, dkim=none, dmarc=fail")
    found = run(analyzer, gov_view("mx.example.jp; spf=softfail smtp.mailfrom=mod.go.jp"))
    assert "authentication does not support it (spf=softfail)" in found["SENDER_GOV_UNVERIFIED"].evidence[0]


def test_unverified_pass_for_another_domain(analyzer: SenderAnalyzer) -> None:
    found = run(
        analyzer,
        gov_view("mx.example.jp; spf=pass smtp.mailfrom=bounce@evil.example.net; dkim=none; dmarc=none"),
    )
    assert "spf=pass for evil.example.net, not mod.go.jp" in found["SENDER_GOV_UNVERIFIED"].evidence[0]


def test_unverified_by_received_path(analyzer: SenderAnalyzer) -> None:
    hops = [
        Hop(
            raw="from mail.evil.example by mx.example.jp",
            from_="mail.evil.example (mail.evil.example [198.51.100.7])",
            by="mx.example.jp",
        )
    ]
    finding = run(analyzer, gov_view(received=hops))["SENDER_GOV_UNVERIFIED"]
    assert finding.strength == 0.5
    assert "none of the 1 Received hop(s) came from mod.go.jp" in finding.evidence[0]


@pytest.mark.parametrize(
    ("ar", "hops", "to"),
    [
        (
            "mx.example.jp; spf=pass smtp.mailfrom=kouhou@mod.go.jp; dkim=pass header.d=mod.go.jp; dmarc=pass",
            (),
            ("a@example.co.jp",),
        ),
        (
            "mx.example.jp; spf=fail smtp.mailfrom=mod.go.jp; dkim=pass header.d=mail.mod.go.jp",
            (),
            ("a@example.co.jp",),
        ),
        ("mx.example.jp; spf=pass; dkim=none", (), ("a@example.co.jp",)),  # a pass without a domain
        (
            None,
            (Hop(raw="r", from_="mail.mod.go.jp (mail.mod.go.jp [192.0.2.1])", by="mx.example.jp"),),
            ("a@example.co.jp",),
        ),
        (None, (Hop(raw="r", from_="pc01 (unknown)", by="gw.mod.go.jp"),), ("b@mod.go.jp",)),  # internal relay
        (None, (), ("a@example.co.jp",)),  # nothing to judge by
    ],
)
def test_unverified_does_not_fire(
    analyzer: SenderAnalyzer, ar: str | None, hops: Sequence[Hop], to: Sequence[str]
) -> None:
    assert "SENDER_GOV_UNVERIFIED" not in run(analyzer, gov_view(ar, hops, to))


def test_unverified_only_for_government_senders(analyzer: SenderAnalyzer) -> None:
    ar = "mx.example.jp; spf=fail; dkim=fail; dmarc=fail"
    assert "SENDER_GOV_UNVERIFIED" not in run(analyzer, view(headers=[_ar(ar)], auth=_auth(ar)))


def test_parse_authentication_results() -> None:
    clauses = parse_authentication_results(
        "mx.example.jp (comment; with semicolon); dkim=pass (2048-bit key) header.d=Mod.Go.JP header.s=sel;"
        " spf=pass smtp.mailfrom=<x@mod.go.jp>"
    )
    assert [(c.method, c.result) for c in clauses] == [("dkim", "pass"), ("spf", "pass")]
    assert clauses[0].props["header.d"] == "mod.go.jp"
    assert clauses[1].props["smtp.mailfrom"] == "x@mod.go.jp"
    assert parse_authentication_results("") == []
    assert parse_authentication_results(";" * 10000) == []


# -- SENDER_REPLY_MISMATCH -----------------------------------------------------------------------------------
def test_reply_to_free_mail(analyzer: SenderAnalyzer) -> None:
    finding = run(analyzer, view(reply_to=["yamada.taro@gmail.com"]))["SENDER_REPLY_MISMATCH"]
    assert finding.strength == 1.0
    assert finding.evidence == ("Reply-To yamada.taro@gmail.com (free mail) is not in the From domain example.co.jp",)


def test_reply_to_other_domain(analyzer: SenderAnalyzer) -> None:
    finding = run(analyzer, view(reply_to=["sales@example.net"]))["SENDER_REPLY_MISMATCH"]
    assert finding.strength == 0.5


def test_sender_and_return_path(analyzer: SenderAnalyzer) -> None:
    found = run(analyzer, view(sender="someone@example.org"))
    assert found["SENDER_REPLY_MISMATCH"].strength == 0.5
    found = run(analyzer, view(return_path="spoofer@gmail.com"))
    assert found["SENDER_REPLY_MISMATCH"].strength == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reply_to": ["support@help.example.co.jp"]},  # same organisation
        {"return_path": "<>"},
        {"return_path": "bounce-12345-abcdef@mail.esp.example.net"},  # an ESP's VERP bounce address
        {"return_path": "www-data@web01.example.net"},  # rewritten by a web server: not free mail
        {"reply_to": ["order@amazon.com"], "from_": "store-news@amazon.co.jp"},  # one brand's domains
        {"from_": "friend@gmail.com", "reply_to": ["friend@gmail.com"]},
        {
            # a mailing list: Sender and Return-Path are the list's, Reply-To goes to the list
            "sender": "linux-nfc-bounces@lists.01.org",
            "return_path": "linux-nfc-bounces@lists.01.org",
            "reply_to": ["linux-nfc@lists.01.org"],
            "headers": [
                ("List-Id", "Linux NFC <linux-nfc.lists.01.org>"),
                ("List-Post", "<mailto:linux-nfc@lists.01.org>"),
            ],
        },
        {
            # an old list without List-Id: owner- Sender
            "sender": "owner-ports-jp@jp.freebsd.org",
            "reply_to": ["ports-jp@jp.freebsd.org"],
        },
    ],
)
def test_reply_mismatch_does_not_fire(analyzer: SenderAnalyzer, kwargs: dict[str, Any]) -> None:
    assert "SENDER_REPLY_MISMATCH" not in run(analyzer, view(**kwargs))


def test_list_reply_to_elsewhere_still_fires(analyzer: SenderAnalyzer) -> None:
    target = view(
        reply_to=["winner@gmail.com"],
        sender="list-bounces@lists.example.org",
        headers=[("List-Id", "<list.lists.example.org>")],
    )
    assert run(analyzer, target)["SENDER_REPLY_MISMATCH"].strength == 1.0


# -- SENDER_FREEMAIL_ORG_CLAIM -------------------------------------------------------------------------------
def test_freemail_with_private_address_excuse(analyzer: SenderAnalyzer) -> None:
    text = "お世話になっております。\n出張中のためプライベートアドレスより失礼いたします。\n資料を添付します。"
    finding = run(analyzer, view(from_="yamada1234@yahoo.co.jp", text=text))["SENDER_FREEMAIL_ORG_CLAIM"]
    assert finding.strength == 1.0
    assert "プライベートアドレスより" in finding.evidence[0]
    assert finding.evidence[-1] == "From yahoo.co.jp is a free-mail provider"


def test_freemail_english_excuse_in_subject(analyzer: SenderAnalyzer) -> None:
    found = run(analyzer, view(from_="x@gmail.com", subject="Sent from my personal email", text="hello"))
    assert found["SENDER_FREEMAIL_ORG_CLAIM"].strength == 1.0


@pytest.mark.parametrize(
    ("display", "text"),
    [
        ("山田", "資料を送ります。\n\n株式会社サンプル\n営業部 山田 太郎\n"),
        ("山田", "資料を送ります。\n\n○○大学 工学部 情報工学科\n山田 太郎\n"),
        ("山田", "資料です。\n\n外務省 総合外交政策局\n山田\n"),
        ("Taro Yamada", "Please find attached.\n\nTaro Yamada\nSample Trading Co., Ltd.\n"),
        ("株式会社サンプル 総務部 山田", "資料を送ります。"),
    ],
)
def test_freemail_with_org_signature(analyzer: SenderAnalyzer, display: str, text: str) -> None:
    finding = run(analyzer, view(from_="taro.yamada@gmail.com", display=display, text=text))[
        "SENDER_FREEMAIL_ORG_CLAIM"
    ]
    assert finding.strength == 0.6


@pytest.mark.parametrize(
    ("address", "text"),
    [
        ("taro.yamada@gmail.com", "久しぶり！週末の予定どうする？\n\nたろう"),
        ("taro.yamada@gmail.com", "全部で三つあります。\n一部だけ送ります。"),
        ("taro.yamada@gmail.com", "ご応募フォーム\n1.お名前……\n2.個人のメールアドレス……\n"),  # a form's field label
        ("taro.yamada@gmail.com", "ありがとう。\n\n> 株式会社サンプル\n> 営業部 山田"),  # someone else's signature
        ("yamada@example.co.jp", "プライベートアドレスより失礼します。\n株式会社サンプル\n営業部"),  # not free mail
    ],
)
def test_freemail_claim_does_not_fire(analyzer: SenderAnalyzer, address: str, text: str) -> None:
    assert "SENDER_FREEMAIL_ORG_CLAIM" not in run(analyzer, view(from_=address, display="たろう", text=text))


# -- ordinary mail ---------------------------------------------------------------------------------------------
def test_ordinary_business_mail_is_quiet(analyzer: SenderAnalyzer) -> None:
    text = (
        "株式会社サンプル\n総務部 佐藤様\n\nいつもお世話になっております。\n来週の打ち合わせの資料をお送りします。\n"
        "ご確認のほど、よろしくお願いいたします。\n\n--\n株式会社エグザンプル 営業部\n山田 太郎\nTEL 03-0000-0000\n"
    )
    target = view(
        text=text,
        return_path="yamada@example.co.jp",
        headers=[_ar("mx.example.jp; spf=pass smtp.mailfrom=example.co.jp; dkim=pass header.d=example.co.jp")],
    )
    assert run(analyzer, target) == {}


def test_no_from_address(analyzer: SenderAnalyzer) -> None:
    assert run(analyzer, view(from_=None, display="防衛省")) == {}
    assert run(analyzer, view(from_="not-an-address", display="防衛省")) == {}


def test_hostile_values_do_not_crash(analyzer: SenderAnalyzer) -> None:
    run(analyzer, view(from_="x@" + "a." * 200 + "com", display="\u202e防衛省" * 100, text="防衛省\n" * 10000))
    run(analyzer, view(from_="x@[203.0.113.5]", reply_to=["@", "a@", "@b"], return_path="<<>>", sender="x@-.com"))
    run(analyzer, view(text="\n".join(["-- "] * 1000 + [">"] * 1000)))


def test_signature_block() -> None:
    text = "本文\n\n-- \n株式会社サンプル\n営業部\n"
    assert signature_block(text) == ["株式会社サンプル", "営業部"]
    assert signature_block("a\n" * 100, lines=3) == ["a", "a", "a"]
    assert signature_block("") == []
    reply = "了解です。\n山田\n\n2024年1月1日(月) 10:00 Sato <sato@example.jp>:\n> 元の本文\n株式会社元\n"
    assert signature_block(reply) == ["了解です。", "山田"]


# -- options -------------------------------------------------------------------------------------------------
def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        SenderAnalyzer().setup(load_config(overrides={"analyzers": {"sender": {"bogus": 1}}}))
    with pytest.raises(ConfigError, match="signature_lines"):
        SenderAnalyzer().setup(load_config(overrides={"analyzers": {"sender": {"signature_lines": 0}}}))
    with pytest.raises(ConfigError, match="cannot read"):
        SenderAnalyzer().setup(load_config(overrides={"analyzers": {"sender": {"freemail": "lists/missing.txt"}}}))
    with pytest.raises(RuntimeError):
        SenderAnalyzer().analyze(view(), Ctx())  # type: ignore[arg-type]


# -- through the engine --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(analyzers=[*default_analyzers(), SenderAnalyzer(), UrlAnalyzer()])


def test_engine_spoofed_ministry(engine: Engine) -> None:
    raw = make_message(
        sender="防衛省 人事教育局 <jinji@mod-go-jp.com>",
        subject="人事異動について",
        body="関係各位\n\n人事異動の資料を送付します。\n\n防衛省 人事教育局\n",
        headers=[("Reply-To", "mod.jinji@gmail.com")],
    )
    report = engine.scan(raw)
    ids = set(report.finding_ids())
    assert {"SENDER_GOV_DISPLAY_NAME", "SENDER_GOV_LOOKALIKE", "SENDER_REPLY_MISMATCH"} <= ids
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]


def test_engine_ordinary_mail(engine: Engine) -> None:
    raw = make_message(
        sender="山田 太郎 <yamada@example.co.jp>",
        body="お世話になっております。\n資料を送付します。\n\n株式会社エグザンプル 営業部\n山田 太郎\n",
    )
    report = engine.scan(raw)
    assert not [f for f in report.findings if f.id.startswith("SENDER_")]
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]

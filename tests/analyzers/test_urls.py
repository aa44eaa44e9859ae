"""UrlAnalyzer: IP hosts, link text showing another domain, lookalike hosts, shorteners, IOCs — must fire and
must not fire; and the HTML scanner stays linear on hostile markup."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from conftest import make_message

from triage.analyzers.sender import SenderAnalyzer
from triage.analyzers.urls import UrlAnalyzer, ip_host, scan_html, text_urls
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import Finding, MessageInfo, NoteKind
from triage.plugins import MessageView
from triage.registry import default_analyzers


class Ctx:
    artifact_id = "a0"

    def __init__(self) -> None:
        self.iocs: list[tuple[str, str]] = []
        self.deadline_checks = 0

    def add_ioc(self, kind: str, value: str) -> None:
        self.iocs.append((kind, value))

    def check_deadline(self) -> None:
        self.deadline_checks += 1


@pytest.fixture(scope="module")
def analyzer() -> UrlAnalyzer:
    plugin = UrlAnalyzer()
    plugin.setup(load_config())
    return plugin


def view(*, text: str = "", html: str = "", html_text: str = "") -> MessageView:
    return MessageView(
        info=MessageInfo(from_="a@example.co.jp", artifact="a0"),
        artifact="a0",
        headers=(),
        text=text,
        html_text=html_text,
        html=html,
        defects=(),
    )


def run(analyzer: UrlAnalyzer, target: MessageView, ctx: Ctx | None = None) -> dict[str, Finding]:
    findings = list(analyzer.analyze(target, ctx or Ctx()))  # type: ignore[arg-type]
    for f in findings:
        assert f.id in analyzer.emits and f.analyzer == "urls"
        assert all(e.isprintable() for e in f.evidence)
    return {f.id: f for f in findings}


# -- extraction ----------------------------------------------------------------------------------------------
def test_text_urls() -> None:
    text = (
        "詳細はhttp://example.com/a?b=1です。\n"
        "(see https://example.org/x).\n"
        "https://en.wikipedia.org/wiki/Foo_(bar)\n"
        "www.example.net/path, and ftp://files.example.com/f.zip!\n"
        "defanged: hxxp://evil.example.com and evil[.]example[.]com are not links\n"
        "mailto:someone@example.com user@www.example.jp"
    )
    assert list(text_urls(text)) == [
        "http://example.com/a?b=1",
        "https://example.org/x",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "ftp://files.example.com/f.zip",
        "www.example.net/path",
    ]


def test_scan_html_attributes_and_anchor_text() -> None:
    html = (
        '<p>x</p><A HREF="https://a.example.com/1">Click <b>here</b></A>'
        "<img src='https://img.example.com/p.png'><form action=https://f.example.com/post>"
        '<a href="https://b.example.com/2">'
        '<td background="https://bg.example.com/x.gif"><form formaction="https://fa.example.com/">'
        '<IFRAME data-src="https://lazy.example.com/" src="https://frame.example.com/">'
    )
    found = [(e.url, e.anchor_text) for e in scan_html(html, 100)]
    assert found == [
        ("https://a.example.com/1", "Click here"),
        ("https://img.example.com/p.png", None),
        ("https://f.example.com/post", None),
        ("https://b.example.com/2", ""),
        ("https://fa.example.com/", None),
        ("https://frame.example.com/", None),
    ]
    assert len(scan_html('<a href="x">' * 50, 10)) == 10


@pytest.mark.parametrize(
    "html",
    [
        "<a" * 500_000,
        '<a href="' * 100_000,
        "<a href=x>" * 100_000,
        "<!--" * 250_000,
        "<" * 1_000_000,
        '<a href="x" ' + "href='" * 150_000,
    ],
)
def test_scan_html_hostile(html: str) -> None:
    # Completes (linear); results bounded by the limit.
    assert len(scan_html(html, 500)) <= 500


# -- URL_IP_LITERAL ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "address", "form", "global_"),
    [
        ("203.0.113.5", "203.0.113.5", "dotted", True),
        ("3405803781", "203.0.113.5", "decimal", True),
        ("0xcb007105", "203.0.113.5", "hex", True),
        ("0313.0.0161.5", "203.0.113.5", "mixed", True),
        ("203.0x0.113.5", "203.0.113.5", "mixed", True),
        ("[2001:db8::1]", "2001:db8::1", "IPv6", True),
        ("192.168.1.1", "192.168.1.1", "dotted", False),
        ("127.0.0.1", "127.0.0.1", "dotted", False),
    ],
)
def test_ip_host(host: str, address: str, form: str, global_: bool) -> None:
    found = ip_host(host)
    assert found is not None
    assert (found.address, found.form, found.global_) == (address, form, global_)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "4294967296", "[zz::1", "09.1.1.1", ""])
def test_not_ip_host(host: str) -> None:
    assert ip_host(host) is None


def test_ip_literal_fires(analyzer: UrlAnalyzer) -> None:
    ctx = Ctx()
    found = run(analyzer, view(text="ログイン: http://203.0.113.5/login と http://3405803781/x"), ctx)
    finding = found["URL_IP_LITERAL"]
    assert finding.strength == 1.0
    assert finding.evidence == ("http://203.0.113.5/login", "http://3405803781/x (decimal form of 203.0.113.5)")
    assert ("ips", "203.0.113.5") in ctx.iocs


def test_private_ip_is_weak(analyzer: UrlAnalyzer) -> None:
    assert run(analyzer, view(text="open http://192.168.0.1:8080/admin"))["URL_IP_LITERAL"].strength == 0.3


def test_ip_literal_does_not_fire_on_names(analyzer: UrlAnalyzer) -> None:
    assert "URL_IP_LITERAL" not in run(analyzer, view(text="https://www.example.co.jp/ and version 1.2.3.4 text"))


# -- URL_TEXT_MISMATCH ---------------------------------------------------------------------------------------
def test_text_mismatch_fires(analyzer: UrlAnalyzer) -> None:
    html = '<a href="http://login.evil.example.net/amazon">https://www.amazon.co.jp/account</a>'
    finding = run(analyzer, view(html=html))["URL_TEXT_MISMATCH"]
    assert finding.evidence == (
        'link text "https://www.amazon.co.jp/account" shows amazon.co.jp, goes to http://login.evil.example.net/amazon',
    )


def test_text_mismatch_to_ip_and_userinfo(analyzer: UrlAnalyzer) -> None:
    found = run(analyzer, view(html='<a href="http://203.0.113.9/">www.mufg.jp</a>'))
    assert "shows mufg.jp" in found["URL_TEXT_MISMATCH"].evidence[0]
    found = run(analyzer, view(text="http://www.mod.go.jp@evil.example.com/login"))
    assert found["URL_TEXT_MISMATCH"].evidence == (
        "http://www.mod.go.jp@evil.example.com/login: shows www.mod.go.jp before @, goes to evil.example.com",
    )


@pytest.mark.parametrize(
    "html",
    [
        '<a href="https://click.example.com/t?id=1">www.example.com</a>',  # tracking under the shown domain
        '<a href="https://www.amazon.com/x">amazon.co.jp</a>',  # two domains of one brand
        '<a href="https://evil.example.net/">Click here</a>',
        '<a href="https://files.example.net/r.zip">report.zip</a>',  # a file name, not a domain
        '<a href="https://example.com/">https://example.com/</a>',
        '<a href="mailto:info@example.org">info@example.org</a>',
    ],
)
def test_text_mismatch_does_not_fire(analyzer: UrlAnalyzer, html: str) -> None:
    assert "URL_TEXT_MISMATCH" not in run(analyzer, view(html=html))


# -- URL_LOOKALIKE_DOMAIN ------------------------------------------------------------------------------------
def test_lookalike_fires(analyzer: UrlAnalyzer) -> None:
    text = "確認: https://mod-go-jp.com/notice と https://arnazon.co.jp/signin"
    finding = run(analyzer, view(text=text))["URL_LOOKALIKE_DOMAIN"]
    assert finding.evidence == (
        "https://mod-go-jp.com/notice: mod-go-jp.com imitates mod.go.jp (go-jp)",
        "https://arnazon.co.jp/signin: arnazon.co.jp imitates amazon.co.jp"
        " (lookalike characters: arnazon reads as amazon)",
    )


def test_lookalike_idn_evidence_is_readable(analyzer: UrlAnalyzer) -> None:
    finding = run(analyzer, view(text="https://xn--mazon-3ve.com/"))["URL_LOOKALIKE_DOMAIN"]
    assert "imitates amazon.co.jp (punycode homoglyph" in finding.evidence[0]


def test_lookalike_does_not_fire(analyzer: UrlAnalyzer) -> None:
    text = "https://www.mod.go.jp/ https://www.amazon.co.jp/ https://m.media-amazon.com/i.png https://lore.kernel.org/x"
    assert "URL_LOOKALIKE_DOMAIN" not in run(analyzer, view(text=text))


# -- URL_SHORTENER -------------------------------------------------------------------------------------------
def test_shortener(analyzer: UrlAnalyzer) -> None:
    found = run(analyzer, view(text="こちら https://bit.ly/3abcDEF から"))
    assert found["URL_SHORTENER"].evidence == ("https://bit.ly/3abcDEF",)
    assert "URL_SHORTENER" not in run(analyzer, view(text="https://www.example.co.jp/bit.ly"))


# -- IOCs and quiet mail -------------------------------------------------------------------------------------
def test_iocs(analyzer: UrlAnalyzer) -> None:
    ctx = Ctx()
    run(analyzer, view(text="https://www.example.co.jp/a https://www.example.co.jp/b http://203.0.113.5/"), ctx)
    assert ("urls", "https://www.example.co.jp/a") in ctx.iocs and ("urls", "https://www.example.co.jp/b") in ctx.iocs
    assert ctx.iocs.count(("domains", "www.example.co.jp")) == 1
    assert ("ips", "203.0.113.5") in ctx.iocs


def test_url_cap() -> None:
    plugin = UrlAnalyzer()
    plugin.setup(load_config(overrides={"analyzers": {"urls": {"max_urls": 5}}}))
    ctx = Ctx()
    text = " ".join(f"https://h{i}.example.com/" for i in range(50))
    run(plugin, view(text=text), ctx)
    assert len([v for k, v in ctx.iocs if k == "urls"]) == 5


def test_newsletter_with_same_domain_tracking_is_quiet(analyzer: UrlAnalyzer) -> None:
    html = "".join(
        f'<p><a href="https://click.news.example.co.jp/c/{i}?u=abc">www.example.co.jp</a>'
        f'<img src="https://img.news.example.co.jp/{i}.png"></p>'
        for i in range(30)
    )
    assert run(analyzer, view(html=html, text="https://www.example.co.jp/unsubscribe")) == {}


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        UrlAnalyzer().setup(load_config(overrides={"analyzers": {"urls": {"nope": 1}}}))
    with pytest.raises(ConfigError, match="max_urls"):
        UrlAnalyzer().setup(load_config(overrides={"analyzers": {"urls": {"max_urls": True}}}))


def test_engine_collects_iocs_and_findings() -> None:
    engine = Engine(analyzers=[*default_analyzers(), SenderAnalyzer(), UrlAnalyzer()])
    raw = make_message(
        sender="Amazon <account@amazon-secure-login.com>",
        subject="アカウントの確認",
        body="アカウントを確認してください: https://amazon-secure-login.com/verify\nhttp://203.0.113.5/x\n",
    )
    report = engine.scan(raw)
    assert {"URL_LOOKALIKE_DOMAIN", "URL_IP_LITERAL"} <= set(report.finding_ids())
    assert "https://amazon-secure-login.com/verify" in report.iocs.urls
    assert "amazon-secure-login.com" in report.iocs.domains
    assert "203.0.113.5" in report.iocs.ips
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]


def test_scan_html_ascii_and_utf8_paths_agree() -> None:
    # an ASCII document is read as str, any other as UTF-8 bytes: the answers are the same
    html = (
        '<a href="https://a.example.com/1">Click <b>here</b></a><img\x0bsrc=https://img.example.com/p.png>'
        '<a href="https://b.example.com/2" title="x>y">t</a  ><form formaction="https://fa.example.com/">'
        '<a\x1chref="https://c.example.com/">no tag: \\x1c is not whitespace to the tag finder</a>'
    )
    ascii_found = [(e.url, e.anchor_text) for e in scan_html(html, 100)]
    utf8_found = [
        (e.url, e.anchor_text.replace("日本", "") if e.anchor_text else e.anchor_text)
        for e in scan_html(html + "<p>日本</p>", 100)
    ]
    assert ascii_found == utf8_found
    assert ascii_found[0] == ("https://a.example.com/1", "Click here")
    assert ("https://c.example.com/", None) not in ascii_found


@pytest.mark.parametrize(
    "url",
    [
        "http://user@www.example.com:8080/p?q#f",
        "HTTPS://Example.COM./x",
        "www.example.com/path",
        "//cdn.example.net/a.js",
        "http:example.com",
        "mailto:a@example.com",
        "http://[2001:db8::1]/x",
        "http://[2001:db8::1/x",
        " http://spaced.example.com ",
        "http://ex\tample.com/",
        "http://例え.jp/",
        "ftp://files.example.org",
    ],
)
def test_split_fast_path_matches_urlsplit(url: str) -> None:
    from triage.analyzers import urls

    fast = urls._split(url)
    # the urlsplit reading, as it was before the fast path
    text = url.strip()
    if text.lower().startswith("www."):
        text = "http://" + text
    elif text.startswith("//"):
        text = "http:" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        assert fast is None
        return
    slow = urls._from_netloc(url, parts.netloc) if parts.scheme in ("http", "https", "ftp") else None
    assert fast == slow

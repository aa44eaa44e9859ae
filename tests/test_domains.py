"""triage.domains: registrable domains (go.jp, lg.jp), government and free-mail facts, lookalikes, list loading."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.config import rules_dir
from triage.domains import (
    DomainTools,
    clean_host,
    load_brands,
    load_domain_list,
    load_domain_tools,
    load_gov_bodies,
    load_prefectures,
    skeleton,
    unicode_label,
)
from triage.errors import ConfigError

LISTS = rules_dir() / "lists"
SHARED_GOV = Path(__file__).resolve().parents[2] / "shared" / "data" / "jp_gov_domains.txt"


@pytest.fixture(scope="module")
def tools() -> DomainTools:
    return load_domain_tools(
        gov_bodies=LISTS / "gov_bodies.toml",
        lg_jp=LISTS / "lg_jp.toml",
        freemail=LISTS / "freemail.txt",
        brands=LISTS / "brands.toml",
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.mod.go.jp", "mod.go.jp"),
        ("mod.go.jp", "mod.go.jp"),
        ("WWW.MOD.GO.JP.", "mod.go.jp"),
        ("www.pref.osaka.lg.jp", "pref.osaka.lg.jp"),  # the PSL alone says osaka.lg.jp
        ("www.city.osaka.lg.jp", "city.osaka.lg.jp"),
        ("mail.metro.tokyo.lg.jp", "metro.tokyo.lg.jp"),
        ("service.lg.jp", "service.lg.jp"),
        ("www.pref.osaka.jp", "pref.osaka.jp"),
        ("mail.example.co.jp", "example.co.jp"),
        ("a.b.example.com", "example.com"),
        ("foo.blogspot.com", "foo.blogspot.com"),
        ("例え.jp", "xn--r8jz45g.jp"),
        ("go.jp", None),
        ("lg.jp", None),
        ("jp", None),
        ("203.0.113.5", None),
        ("host.invalidtld", None),
        ("", None),
        ("..", None),
        ("a..b.com", None),
        ("exa mple.com", None),
        ("x" * 64 + ".com", None),
    ],
)
def test_registrable(tools: DomainTools, host: str, expected: str | None) -> None:
    assert tools.registrable(host) == expected


def test_gov_and_freemail_facts(tools: DomainTools) -> None:
    assert tools.is_gov("www.mod.go.jp") and tools.is_gov("city.yokohama.lg.jp")
    assert not tools.is_gov("mod.go.jp.example.com") and not tools.is_gov("example.co.jp")
    body = tools.gov_body("mail.mofa.go.jp")
    assert body is not None and body.name == "外務省"
    assert tools.gov_body("kaiho.mlit.go.jp") is not None  # sub-agencies live under their parent's domain
    assert tools.gov_body("example.co.jp") is None
    for free in ("gmail.com", "yahoo.co.jp", "i.softbank.jp", "gmx.de", "yahoo.co.uk", "qq.com", "docomo.ne.jp"):
        assert tools.is_freemail(free), free
    for corporate in ("example.co.jp", "softbank.jp", "kernel.org", "mod.go.jp", ""):
        assert not tools.is_freemail(corporate), corporate
    facts = tools.facts("Mail.Example.CO.JP")
    assert facts is not None and facts.host == "mail.example.co.jp" and facts.registrable == "example.co.jp"
    assert not facts.gov and not facts.freemail


@pytest.mark.parametrize(
    ("host", "imitates", "technique"),
    [
        ("mod-go-jp.com", "mod.go.jp", "go-jp"),
        ("meti-go.jp", "meti.go.jp", "-go.jp"),
        ("mod.go.jp.example.com", "mod.go.jp", "go.jp.<other>"),
        ("www.pref.osaka.lg.jp.example.net", "pref.osaka.lg.jp", "lg.jp.<other>"),
        ("mofa.gov.jp", "mofa.go.jp", "gov.jp"),
        ("gojp-mhlw.net", "mhlw.go.jp", "gojp"),
        ("modgojp.com", "mod.go.jp", "mod+gojp"),
        ("mofa.co.jp", "mofa.go.jp", "mofa under .co.jp"),
        ("meti.com", "meti.go.jp", "meti under .com"),
        ("meti-jp.com", "meti.go.jp", "meti with jp"),
        ("rnofa.com", "mofa.go.jp", "rnofa reads as mofa"),
        ("m0fa.net", "mofa.go.jp", "m0fa reads as mofa"),
        ("xn--mfa-sed.com", "mofa.go.jp", "punycode homoglyph, mixed scripts"),
        ("mоfa.com", "mofa.go.jp", "homoglyph"),  # Cyrillic о, given as Unicode
        ("kunalcho.jp", "kunaicho.go.jp", "one character from kunaicho"),
        ("nenkim.com", "nenkin.go.jp", "one character from nenkin"),
        ("防衛省.com", "mod.go.jp", "body name 防衛省"),
        ("pref-osaka.com", "pref.osaka.lg.jp", "pref-osaka"),
        ("pref.osaka.example.com", "pref.osaka.lg.jp", "pref.osaka.<other>"),
        ("amazon.co.jp.example.net", "amazon.co.jp", "amazon.co.jp.<other>"),
        ("amazon-secure.com", "amazon.co.jp", "amazon inside amazon-secure"),
        ("arnazon.co.jp", "amazon.co.jp", "arnazon reads as amazon"),
        ("rakutem.com", "rakuten.co.jp", "one character from rakuten"),
        ("xn--mazon-3ve.com", "amazon.co.jp", "punycode homoglyph"),
        ("login.smbc-card-info.com", "smbc.co.jp", "smbc inside"),
    ],
)
def test_lookalike_fires(tools: DomainTools, host: str, imitates: str, technique: str) -> None:
    found = tools.lookalike(host)
    assert found is not None, host
    assert found.imitates == imitates
    assert technique in found.technique
    assert found.describe().startswith(f"{found.domain} imitates {imitates} (")


@pytest.mark.parametrize(
    "host",
    [
        "mod.go.jp",
        "www.mofa.go.jp",
        "kaiho.mlit.go.jp",
        "www.pref.osaka.lg.jp",
        "www.pref.osaka.jp",  # the geographic form of the same prefecture
        "city.fuchu.tokyo.jp",
        "example.co.jp",
        "digital.com",  # generic go.jp labels are ordinary words elsewhere
        "courts.com",
        "mod.com",
        "stat.net",
        "amazon.co.jp",
        "www.amazon.de",
        "m.media-amazon.com",
        "rakuten-card.co.jp",
        "mizuno.jp",
        "kernel.org",
        "lore.kernel.org",
        "github.com",
        "meta.com",  # one edit from meti, but meti is too short for the edit-distance check
        "next.co.jp",
        "gmail.com",
        "203.0.113.5",
        "",
        "not a host",
    ],
)
def test_lookalike_does_not_fire(tools: DomainTools, host: str) -> None:
    assert tools.lookalike(host) is None


def test_lookalike_kinds(tools: DomainTools) -> None:
    assert tools.lookalike("amazon-secure.com", frozenset({"gov"})) is None
    assert tools.lookalike("mod-go-jp.com", frozenset({"brand"})) is None
    found = tools.lookalike("mod-go-jp.com", frozenset({"gov"}))
    assert found is not None and found.kind == "gov"


def test_skeleton_folds_lookalike_characters() -> None:
    assert skeleton("rnofa") == skeleton("mofa") == "mofa"
    assert skeleton("vvww") == "www"
    assert skeleton("c1ear") == "dear"
    assert skeleton("M0FA") == "mofa"
    assert skeleton("ｍｏｆａ") == "mofa"  # full width
    assert skeleton("mоfa") == "mofa"  # Cyrillic о
    assert skeleton("ɑmazon") == "amazon"  # Latin alpha
    assert skeleton("防衛省") == "防衛省"


def test_clean_host_and_unicode_label() -> None:
    assert clean_host(" WWW.Example.COM. ") == "www.example.com"
    assert clean_host("例え。jp") == "xn--r8jz45g.jp"  # ideographic full stop
    assert clean_host("exa_mple.com") == "exa_mple.com"
    for bad in ("", " ", "a/b.com", "a@b.com", "a..b", "-" * 300, "x" * 2000):
        assert clean_host(bad) is None, bad
    assert unicode_label("xn--mfa-sed") == "mоfa"
    assert unicode_label("xn--") == "xn--"
    assert unicode_label("plain") == "plain"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_total_on_any_string(text: str) -> None:
    tools = _SHARED_TOOLS
    tools.registrable(text)
    tools.facts(text)
    tools.is_gov(text)
    tools.is_freemail(text)
    found = tools.lookalike(text)
    assert found is None or found.describe()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["go", "jp", "lg", "gov", "mod", "mofa", "amazon", "co", "com", "-", "xn--", "0", "rn"]),
        max_size=12,
    )
)
def test_total_on_tricky_labels(parts: list[str]) -> None:
    host = ".".join(p for p in parts)
    found = _SHARED_TOOLS.lookalike(host)
    assert found is None or found.imitates


_SHARED_TOOLS = load_domain_tools(
    gov_bodies=LISTS / "gov_bodies.toml",
    lg_jp=LISTS / "lg_jp.toml",
    freemail=LISTS / "freemail.txt",
    brands=LISTS / "brands.toml",
)


# -- the shipped lists ---------------------------------------------------------------------------------------
def test_shipped_lists_are_valid() -> None:
    gov = load_gov_bodies(LISTS / "gov_bodies.toml")
    assert len(gov.bodies) >= 40
    prefectures, types = load_prefectures(LISTS / "lg_jp.toml")
    assert len(prefectures) == 47
    assert {"metro", "pref", "city", "town", "vill"} <= types
    domains = {p.domain for p in prefectures}
    assert {"metro.tokyo.lg.jp", "pref.hokkaido.lg.jp", "pref.kyoto.lg.jp", "pref.osaka.lg.jp"} <= domains
    assert len(load_brands(LISTS / "brands.toml")) >= 10
    assert "gmail.com" in load_domain_list(LISTS / "freemail.txt", wildcards=True)
    assert "bit.ly" in load_domain_list(LISTS / "shorteners.txt")
    for name in ("gov_bodies.toml", "lg_jp.toml", "freemail.txt", "brands.toml", "shorteners.txt"):
        assert (LISTS / name).read_text(encoding="utf-8").startswith("#"), f"{name} must say what it is"


def test_no_test_domains_in_shipped_lists() -> None:
    for name in ("gov_bodies.toml", "freemail.txt", "brands.toml", "shorteners.txt"):
        text = (LISTS / name).read_text(encoding="utf-8")
        assert "example.com" not in text and ".test" not in text and ".invalid" not in text


@pytest.mark.skipif(not SHARED_GOV.is_file(), reason="the shared checked list is not beside the repository")
def test_gov_domains_come_from_the_checked_list() -> None:
    checked = {
        line.strip()
        for line in SHARED_GOV.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    used = {d for body in load_gov_bodies(LISTS / "gov_bodies.toml").bodies for d in body.domains}
    assert used <= checked, sorted(used - checked)


# -- loading fails fast --------------------------------------------------------------------------------------
_BODY = """
[[body]]
domains = ["{domain}"]
ja = ["防衛省"]
en = []
en_generic = []
acronyms = ["{acronym}"]
acronyms_generic = []
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("extra = 1\n" + _BODY.format(domain="mod.go.jp", acronym="MOD"), "unknown key"),
        (_BODY.format(domain="mod.co.jp", acronym="MOD"), "registrable go.jp"),
        (_BODY.format(domain="www.mod.go.jp", acronym="MOD"), "registrable go.jp"),
        (_BODY.format(domain="mod.go.jp", acronym="mod"), "acronym"),
        (
            _BODY.format(domain="mod.go.jp", acronym="MOD") + _BODY.format(domain="mod.go.jp", acronym="X1"),
            "belongs to",
        ),
        ('generic_labels = ["nope"]\n' + _BODY.format(domain="mod.go.jp", acronym="MOD"), "no body's domain"),
        ("[[body]]\ndomains = []\n", "exactly the keys"),
        ("not toml [", "invalid TOML"),
        ("", "needs at least one"),
    ],
)
def test_gov_bodies_validation(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gov.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_gov_bodies(path)


def test_other_lists_validation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# comment\nGood.COM\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lower-case domain"):
        load_domain_list(bad)
    bad.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        load_domain_list(bad)
    bad.write_text("gmx.*\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_domain_list(bad)  # wildcards only where allowed
    assert load_domain_list(bad, wildcards=True) == ("gmx.*",)
    with pytest.raises(ConfigError, match="cannot read"):
        load_domain_list(tmp_path / "missing.txt")
    brands = tmp_path / "brands.toml"
    brands.write_text(
        '[[brand]]\nname = "X"\ndomains = ["x.com"]\nlabels = ["x"]\ntypo_labels = ["y"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="typo_labels"):
        load_brands(brands)
    lg = tmp_path / "lg.toml"
    lg.write_text(
        'types = ["pref"]\n[[prefecture]]\nja = "大阪府"\nromaji = "osaka"\ndomain = "pref.kyoto.lg.jp"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="domain must be"):
        load_prefectures(lg)


def test_load_domain_tools_shares_the_indexes(tmp_path: Path) -> None:
    lists = {
        "gov_bodies": LISTS / "gov_bodies.toml",
        "lg_jp": LISTS / "lg_jp.toml",
        "brands": LISTS / "brands.toml",
    }
    plain = load_domain_tools(**lists)
    with_free = load_domain_tools(**lists, freemail=LISTS / "freemail.txt")
    assert load_domain_tools(**lists) is plain  # same contents: built once
    assert with_free._by_skeleton is plain._by_skeleton and with_free.freemail and not plain.freemail
    assert with_free.is_freemail("gmail.com") and not plain.is_freemail("gmail.com")
    # another file with other contents is read and indexed anew
    brands = tmp_path / "brands.toml"
    brands.write_text('[[brand]]\nname = "X"\ndomains = ["x-brand.com"]\nlabels = ["xbrand"]\ntypo_labels = []\n')
    other = load_domain_tools(**{**lists, "brands": brands})
    assert other is not plain and other.brand_of("x-brand.com") is not None
    assert plain.brand_of("x-brand.com") is None


def test_answers_are_remembered_and_unchanged() -> None:
    tools = load_domain_tools(gov_bodies=LISTS / "gov_bodies.toml", lg_jp=LISTS / "lg_jp.toml")
    for _ in range(2):  # the second round is answered from the memo
        facts = tools.facts("mod-go-jp.example.com")
        assert facts is not None
        found = tools.lookalike_of(facts)
        assert found is not None and found.imitates == "mod.go.jp"
        assert tools.facts("not a host") is None

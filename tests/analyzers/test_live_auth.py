"""LiveAuthAnalyzer against a real DNS server on 127.0.0.1 (dnslib): SPF, DKIM, DMARC, failures, hostile input."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import dkim
import pytest
from _dns_server import ZoneResolver, closed_port, dns_server, silent_server
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from triage.analyzers.live_auth import LiveAuthAnalyzer, client_from_hops, parse_dmarc
from triage.config import load_config
from triage.errors import ConfigError
from triage.model import Envelope, Finding, Hop, MessageInfo
from triage.plugins import MessageView

GOV = "mof.go.jp"
LG = "city.example.lg.jp"
SHOP = "example-shop.com"
GOOD_IP = "192.0.2.10"
BAD_IP = "203.0.113.5"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
PRIVATE_PEM = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
)
PUBLIC_B64 = base64.b64encode(
    _KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()

ZONE = {
    (GOV, "TXT"): [f"v=spf1 ip4:{GOOD_IP} -all"],
    (f"_dmarc.{GOV}", "TXT"): ["v=DMARC1; p=reject"],
    (f"sel._domainkey.{GOV}", "TXT"): [f"v=DKIM1; k=rsa; p={PUBLIC_B64}"],
    (LG, "TXT"): [f"v=spf1 ip4:{GOOD_IP} ~all"],
    (SHOP, "TXT"): [f"v=spf1 ip4:{GOOD_IP} -all", "google-site-verification=abc"],
    (f"_dmarc.{SHOP}", "TXT"): ["v=DMARC1; p=none; rua=mailto:d@example-shop.com"],
}


class Ctx:
    def __init__(self, remaining: float = 30.0) -> None:
        self.remaining = remaining

    def remaining_seconds(self) -> float:
        return self.remaining

    def check_deadline(self) -> None:
        pass

    def note(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("live_auth adds no notes")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, ZoneResolver]]:
    with dns_server(ZONE) as running:
        yield running


def make_analyzer(**options: Any) -> LiveAuthAnalyzer:
    config = dataclasses.replace(load_config(), analyzers={"live_auth": options})
    plugin = LiveAuthAnalyzer()
    plugin.setup(config)
    return plugin


@pytest.fixture
def live(server: tuple[int, ZoneResolver]) -> LiveAuthAnalyzer:
    return make_analyzer(enabled=True, port=server[0], timeout=2.0)


def raw_message(from_: str, *, sign: bool = False, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_
    msg["To"] = "victim@example.jp"
    msg["Subject"] = "ご確認ください"
    msg["Date"] = "Mon, 16 Nov 2026 10:00:00 +0900"
    msg["Message-ID"] = "<1@mof.go.jp>"
    for name, value in extra:
        msg[name] = value
    msg.set_content("添付の資料をご確認ください。")
    data = msg.as_bytes()
    if sign:
        data = dkim.sign(data, b"sel", GOV.encode(), PRIVATE_PEM, include_headers=[b"from", b"subject"]) + data
    return bytes(data)


def view(
    from_: str,
    *,
    ip: str | None = BAD_IP,
    mail_from: str | None = None,
    raw: bytes | None = None,
    received: Sequence[Hop] = (),
) -> MessageView:
    envelope = Envelope(client_ip=ip, helo="mail.sender.example", mail_from=mail_from or from_) if ip else None
    return MessageView(
        info=MessageInfo(from_=from_, return_path=from_, received=tuple(received)),
        artifact="a0",
        headers=(),
        text="",
        html_text="",
        html="",
        defects=(),
        envelope=envelope,
        raw=raw_message(from_) if raw is None else raw,
    )


def run(plugin: LiveAuthAnalyzer, target: MessageView, ctx: Ctx | None = None) -> dict[str, Finding]:
    findings = list(plugin.analyze(target, ctx or Ctx()))  # type: ignore[arg-type] - a minimal context
    for f in findings:
        assert f.analyzer == "live_auth" and f.artifact == "a0" and f.evidence
    ids = [f.id for f in findings]
    assert len(ids) == len(set(ids))
    return {f.id: f for f in findings}


def test_disabled_checks_import_no_dns_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from triage.engine import Engine; Engine(); "
        "print(sorted(m for m in ('dns', 'dkim', 'spf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_disabled_by_default_sends_no_query(server: tuple[int, ZoneResolver]) -> None:
    before = len(server[1].queries)
    for plugin in (LiveAuthAnalyzer(), make_analyzer()):
        plugin.port = server[0]
        assert run(plugin, view(f"soumu@{GOV}")) == {}
    assert len(server[1].queries) == before


def test_gov_from_unauthorised_ip_without_dkim(live: LiveAuthAnalyzer, server: tuple[int, ZoneResolver]) -> None:
    found = run(live, view(f"soumu@{GOV}"))
    assert set(found) == {"SENDER_GOV_UNVERIFIED", "SENDER_AUTH_FAIL"}
    assert found["SENDER_AUTH_FAIL"].strength == 1.0
    evidence = found["SENDER_GOV_UNVERIFIED"].evidence
    assert f"live SPF fail for {BAD_IP} (mail from soumu@{GOV})" in evidence
    assert "live DKIM: none" in evidence and "live DMARC: fail (p=reject)" in evidence
    assert (GOV, "TXT") in server[1].queries  # the lookups went to our server


def test_gov_from_authorised_ip(live: LiveAuthAnalyzer) -> None:
    assert run(live, view(f"soumu@{GOV}", ip=GOOD_IP)) == {}


def test_valid_dkim_passes_dmarc_from_wrong_ip(live: LiveAuthAnalyzer) -> None:
    raw = raw_message(f"soumu@{GOV}", sign=True)
    assert run(live, view(f"soumu@{GOV}", raw=raw)) == {}


def test_tampered_dkim_fails(live: LiveAuthAnalyzer) -> None:
    raw = raw_message(f"soumu@{GOV}", sign=True)
    raw = raw.replace(b"Subject: =?utf-8?", b"Subject: =?UTF-8?")  # a signed header changed
    found = run(live, view(f"soumu@{GOV}", raw=raw))
    assert set(found) == {"SENDER_GOV_UNVERIFIED", "SENDER_AUTH_FAIL"}
    assert f"live DKIM: fail (d={GOV})" in found["SENDER_AUTH_FAIL"].evidence


def test_non_gov_p_none(live: LiveAuthAnalyzer) -> None:
    found = run(live, view(f"info@{SHOP}"))
    assert set(found) == {"SENDER_AUTH_FAIL"}
    assert found["SENDER_AUTH_FAIL"].strength == 0.4
    assert "live DMARC: fail (p=none)" in found["SENDER_AUTH_FAIL"].evidence


def test_gov_softfail_without_dmarc_via_received_hop(live: LiveAuthAnalyzer) -> None:
    hops = (
        Hop(raw="from pc by relay", from_="pc.local (pc.local [10.0.0.5])"),
        Hop(raw=f"from relay.bad.example ([{BAD_IP}]) by mx.example.jp"),
        Hop(raw="from mx.example.jp ([192.168.1.2]) by store.example.jp", from_="mx.example.jp ([192.168.1.2])"),
    )
    found = run(live, view(f"kikaku@{LG}", ip=None, received=hops))
    assert set(found) == {"SENDER_GOV_UNVERIFIED"}
    assert f"live SPF softfail for {BAD_IP} (mail from kikaku@{LG})" in found["SENDER_GOV_UNVERIFIED"].evidence


def test_client_from_hops_reads_from_the_top() -> None:
    hops = (
        Hop(raw="", from_="first.example ([198.51.100.1])"),
        Hop(raw="", from_=f"second.example ([{BAD_IP}])"),
        Hop(raw="", from_="inner ([127.0.0.1])"),
        Hop(raw="", from_="weird ([999.1.2.3]) ([IPv6:::1])"),
    )
    assert client_from_hops(hops) == (BAD_IP, "second.example")
    assert client_from_hops([Hop(raw="from x by y")]) is None


def test_silent_server_times_out_quietly() -> None:
    with silent_server() as port:
        plugin = make_analyzer(enabled=True, port=port, timeout=0.3)
        started = time.monotonic()
        assert run(plugin, view(f"soumu@{GOV}")) == {}
        assert time.monotonic() - started < 1.5


def test_remaining_scan_time_bounds_the_queries() -> None:
    with silent_server() as port:
        plugin = make_analyzer(enabled=True, port=port, timeout=5.0)
        started = time.monotonic()
        assert run(plugin, view(f"soumu@{GOV}"), Ctx(remaining=0.2)) == {}
        assert time.monotonic() - started < 1.5


def test_server_down() -> None:
    plugin = make_analyzer(enabled=True, port=closed_port(), timeout=0.5)
    started = time.monotonic()
    assert run(plugin, view(f"soumu@{GOV}")) == {}
    assert time.monotonic() - started < 2.5


def test_query_budget_spent_draws_no_conclusion(server: tuple[int, ZoneResolver]) -> None:
    plugin = make_analyzer(enabled=True, port=server[0], max_queries=1)
    assert run(plugin, view(f"soumu@{GOV}")) == {}


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        "v=1; a=rsa-sha256; d=; s=sel; b=; bh=; h=from",
        f"v=1; a=rsa-sha256; d={GOV}; s=sel; c=relaxed/simple; h=from; bh=AAAA; b=!!!!",
        f"v=1; a=rsa-sha256; d={GOV}; s=../../etc; h=from; bh=AAAA; b=AAAA",
        "v=1; " + "x" * 100_000,
    ],
)
def test_malformed_dkim_signature_does_not_crash(live: LiveAuthAnalyzer, signature: str) -> None:
    raw = b"DKIM-Signature: " + signature.encode() + b"\r\n" + raw_message(f"soumu@{GOV}")
    found = run(live, view(f"soumu@{GOV}", raw=raw))
    assert "SENDER_AUTH_FAIL" in found  # still fails DMARC: no valid signature


@pytest.mark.parametrize(
    ("from_", "ip"),
    [
        ("nobody", BAD_IP),
        (f"x@{GOV}", "not-an-ip"),
        (f"x@{GOV}", "[::ffff:999.0.0.1]"),
        ("x@" + "a" * 300 + ".go.jp", BAD_IP),
        ("x@\u202egov.go.jp", BAD_IP),
    ],
)
def test_hostile_input(live: LiveAuthAnalyzer, from_: str, ip: str) -> None:
    run(live, view(from_, ip=ip, raw=b"\x00\xff garbage"))


def test_parse_dmarc() -> None:
    policy = parse_dmarc("v=DMARC1; p=quarantine; sp=reject; adkim=s", subdomain=True)
    assert policy is not None and (policy.p, policy.adkim, policy.aspf) == ("reject", "s", "r")
    assert parse_dmarc("v=DMARC1; p=bogus") is None
    assert parse_dmarc("v=spf1 -all") is None
    fallback = parse_dmarc("v=DMARC1; p=bogus; rua=mailto:x@y")
    assert fallback is not None and fallback.p == "none"


@pytest.mark.parametrize(
    "options",
    [
        {"enabled": "yes"},
        {"resolver": "dns.example"},
        {"resolver": ["127.0.0.1"]},
        {"port": 0},
        {"port": True},
        {"timeout": 0},
        {"timeout": 100},
        {"max_queries": 0},
        {"unknown": 1},
    ],
)
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        make_analyzer(**options)

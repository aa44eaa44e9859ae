"""SENDER_GOV_UNVERIFIED / SENDER_AUTH_FAIL from live SPF, DKIM and DMARC checks — off unless enabled.

The header analyzers read what the receiving side already wrote (Authentication-Results). This one asks DNS
itself, for deployments whose gateway does not check, or that hand us a message from a mailbox:

- SPF (pyspf) for the client IP and MAIL FROM: the envelope's, else the topmost Received hop whose bracketed
  IP is public (the one that connected to our side) and the Return-Path.
- DKIM (dkimpy) for up to `_MAX_SIGNATURES` DKIM-Signature headers of the raw message.
- DMARC evaluated here: TXT `_dmarc.<From domain>`, else `_dmarc.<organisational domain>` (`sp=` then applies),
  pass when SPF passes with an aligned MAIL FROM domain or a DKIM signature with an aligned `d=` verifies
  (relaxed: same organisational domain; strict, `aspf=s` / `adkim=s`: the same domain).

Findings: SENDER_GOV_UNVERIFIED when the From domain is under go.jp or lg.jp and either SPF says fail/softfail
with no aligned DKIM pass, or DMARC fails; SENDER_AUTH_FAIL for any domain whose DMARC fails (strength 1.0 for
p=quarantine/reject, 0.4 for p=none).

Every lookup goes through one `dns.resolver.Resolver` built from the options (never the system's resolver);
pyspf is made to use it by subclassing `spf.query`, dkimpy through its `dnsfunc` (triage/analyzers/live_dns.py,
imported only when the checks are enabled). A message costs at most
`max_queries` lookups, each bounded by `timeout` and by the scan's remaining time.

DNS trouble (timeout, SERVFAIL, the query budget spent) makes the affected check "temperror"; a verdict that
depends on a temperror is not drawn: no finding and no note. A missing check is not an unanalysed input — the
offline analyzers have seen the whole message — so the report stays complete.

Options ([analyzers.live_auth]): `enabled` (false: analyze() returns nothing and sends no query), `resolver`
(an IP address, "127.0.0.1"), `port` (53), `timeout` (seconds per query, 2.0), `max_queries` (20).
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.domains import clean_host, shared_public_suffix_list
from triage.errors import ConfigError
from triage.model import Finding, Hop
from triage.names import escape_controls
from triage.plugins import MessageView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["DmarcPolicy", "LiveAuthAnalyzer", "client_from_hops", "parse_dmarc"]

_OPTIONS = frozenset({"enabled", "resolver", "port", "timeout", "max_queries"})
DEFAULT_RESOLVER = "127.0.0.1"
DEFAULT_PORT = 53
DEFAULT_TIMEOUT = 2.0
DEFAULT_MAX_QUERIES = 20
_MAX_TIMEOUT = 30.0
_MAX_MAX_QUERIES = 200

STRENGTH_ENFORCED = 1.0  # p=quarantine / p=reject
STRENGTH_MONITOR = 0.4  # p=none

_MAX_SIGNATURES = 3  # DKIM-Signature headers verified per message
_MAX_RAW = 10 * 1024 * 1024  # a message larger than this is not handed to dkimpy
_MAX_TXT = 4096  # characters of a DMARC record read
_MIN_KEY_BITS = 1024
_BRACKET_IP = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]{2,45})\]", re.IGNORECASE)
_HELO = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}")
_TEMPERROR = "temperror"  # live_dns.TEMPERROR, without importing it


@dataclass(frozen=True)
class DmarcPolicy:
    p: str  # none | quarantine | reject (sp= already applied for an organisational record)
    adkim: str  # r | s
    aspf: str  # r | s
    domain: str  # where the record was found


def parse_dmarc(record: str, *, subdomain: bool = False, domain: str = "") -> DmarcPolicy | None:
    """A DMARC record's policy, or None when it is not a usable DMARC1 record."""
    tags: dict[str, str] = {}
    for part in record[:_MAX_TXT].split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    if tags.get("v") != "DMARC1":
        return None
    p = tags.get("p", "").lower()
    if p not in ("none", "quarantine", "reject"):
        # RFC 7489 6.6.3: an invalid p= with a rua= is treated as p=none; without, no policy
        if "rua" not in tags:
            return None
        p = "none"
    if subdomain:
        sp = tags.get("sp", "").lower()
        if sp in ("none", "quarantine", "reject"):
            p = sp
    adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
    aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
    return DmarcPolicy(p=p, adkim=adkim, aspf=aspf, domain=domain)


def client_from_hops(hops: Iterable[Hop]) -> tuple[str, str | None] | None:
    """(IP, HELO) from the topmost hop whose `from` part names a public bracketed IP: the host that reached us.

    `hops` come bottom (nearest the sender) first, as MessageInfo keeps them; they are read from the top.
    """
    for hop in reversed(tuple(hops)):
        text = hop.from_ or _from_part(hop.raw)
        if not text:
            continue
        for match in _BRACKET_IP.finditer(text[:1024]):
            try:
                ip = ipaddress.ip_address(match.group(1))
            except ValueError:
                continue
            if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or _internal(ip):
                continue
            helo = _HELO.match(text.strip())
            return str(ip), helo.group(0) if helo else None
    return None


# Internal relays: RFC 1918, shared address space (CGNAT) and IPv6 unique local. Not `is_private`, which also
# covers documentation ranges, and not `is_global`, which refuses them too.
_INTERNAL = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == net.version and ip in net for net in _INTERNAL)


def _from_part(raw: str) -> str:
    text = raw[:1024]
    if not text.lower().startswith("from "):
        return ""
    by = text.lower().find(" by ")
    return text[5 : by if by >= 0 else len(text)]


def _domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return clean_host(address.rsplit("@", 1)[1].strip().strip(">"))


def _is_gov(domain: str) -> bool:
    return domain in ("go.jp", "lg.jp") or domain.endswith((".go.jp", ".lg.jp"))


def _org(domain: str) -> str:
    try:
        found = shared_public_suffix_list().privatesuffix(domain)
    except Exception:  # the list never fails on a clean host; hostile input must not crash us regardless
        found = None
    return str(found) if found else domain


def _aligned(domain: str | None, from_domain: str, mode: str) -> bool:
    if not domain:
        return False
    if mode == "s":
        return domain == from_domain
    return _org(domain) == _org(from_domain)


class LiveAuthAnalyzer:
    name = "live_auth"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits = declared_emits(__name__, "LiveAuthAnalyzer")

    def __init__(self) -> None:
        self.enabled = False
        self.timeout = DEFAULT_TIMEOUT
        self.max_queries = DEFAULT_MAX_QUERIES
        self.address = DEFAULT_RESOLVER
        self.port = DEFAULT_PORT
        self._resolver: Any = None  # built on first use: dnspython is imported only when the checks are on

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.live_auth")
        enabled = options.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("[analyzers.live_auth] enabled must be true or false")
        address = options.get("resolver", DEFAULT_RESOLVER)
        try:
            if not isinstance(address, str):
                raise ValueError(address)
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise ConfigError("[analyzers.live_auth] resolver must be one IP address") from None
        port = options.get("port", DEFAULT_PORT)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError("[analyzers.live_auth] port must be an integer 1..65535")
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= _MAX_TIMEOUT:
            raise ConfigError(f"[analyzers.live_auth] timeout must be a number of seconds in (0, {_MAX_TIMEOUT:g}]")
        max_queries = options.get("max_queries", DEFAULT_MAX_QUERIES)
        if isinstance(max_queries, bool) or not isinstance(max_queries, int) or not 0 < max_queries <= _MAX_MAX_QUERIES:
            raise ConfigError(f"[analyzers.live_auth] max_queries must be an integer 1..{_MAX_MAX_QUERIES}")
        self.enabled = enabled
        self.timeout = float(timeout)
        self.max_queries = max_queries
        self.address = address
        self.port = port
        self._resolver = None

    # -- analysis ----------------------------------------------------------------------------------------------
    def analyze(self, target: MessageView, ctx: PluginContext) -> Iterable[Finding]:
        if not self.enabled:
            return []
        from_domain = _domain_of(target.info.from_)
        if from_domain is None:
            return []
        from triage.analyzers import live_dns

        if self._resolver is None:
            self._resolver = live_dns.make_resolver(self.address, self.port, self.timeout)
        lookups = live_dns.Lookups(
            resolver=self._resolver,
            timeout=self.timeout,
            max_queries=self.max_queries,
            deadline=time.monotonic() + max(0.0, ctx.remaining_seconds()),
        )
        try:
            return self._analyze(target, from_domain, lookups)
        except live_dns.DnsFailure:
            return []

    def _analyze(self, target: MessageView, from_domain: str, lookups: Any) -> list[Finding]:
        gov = _is_gov(from_domain)
        policy = self._dmarc_policy(from_domain, lookups)  # DnsFailure: nothing can be concluded
        if policy is None and not gov:
            return []
        dkim_state = self._dkim(target.raw, from_domain, policy, lookups)
        envelope = target.envelope
        mail_from = (envelope.mail_from if envelope else None) or target.info.return_path
        spf_result: str | None = None
        ip: str | None = None
        if not dkim_state.aligned_pass:
            spf_result, ip = self._spf(target, mail_from, lookups)

        mail_from_domain = _domain_of(mail_from)
        spf_aligned_pass = (
            spf_result == "pass" and policy is not None and _aligned(mail_from_domain, from_domain, policy.aspf)
        )
        dmarc: str | None = None  # pass | fail | None (no record, or undecidable)
        if policy is not None:
            if dkim_state.aligned_pass or spf_aligned_pass:
                dmarc = "pass"
            elif dkim_state.result != _TEMPERROR and spf_result != _TEMPERROR:
                dmarc = "fail"

        spf_line = f"live SPF {spf_result} for {ip} (mail from {mail_from or '<>'})" if spf_result else None
        dkim_line = f"live DKIM: {dkim_state.result}" + (f" (d={dkim_state.domain})" if dkim_state.domain else "")
        dmarc_line = f"live DMARC: fail (p={policy.p})" if policy else None
        evidence: list[str] = []
        findings: list[Finding] = []
        spf_bad = spf_result in ("fail", "softfail")
        dkim_known = dkim_state.result != _TEMPERROR
        if gov and ((spf_bad and dkim_known and not dkim_state.aligned_pass) or dmarc == "fail"):
            if spf_line:
                evidence.append(spf_line)
            evidence.append(dkim_line)
            if dmarc == "fail" and dmarc_line:
                evidence.append(dmarc_line)
            findings.append(self._finding("SENDER_GOV_UNVERIFIED", target.artifact, evidence, 1.0))
        if dmarc == "fail" and policy is not None and dmarc_line:
            strength = STRENGTH_MONITOR if policy.p == "none" else STRENGTH_ENFORCED
            lines = [line for line in (spf_line, dkim_line, dmarc_line) if line]
            findings.append(self._finding("SENDER_AUTH_FAIL", target.artifact, lines, strength))
        return findings

    def _finding(self, finding_id: str, artifact: str, evidence: list[str], strength: float) -> Finding:
        return Finding(
            id=finding_id,
            artifact=artifact,
            analyzer=self.name,
            strength=strength,
            evidence=tuple(escape_controls(line[:300]) for line in evidence),
        )

    def _dmarc_policy(self, from_domain: str, lookups: Any) -> DmarcPolicy | None:
        policy = self._dmarc_record(from_domain, lookups, subdomain=False)
        if policy is not None:
            return policy
        org = _org(from_domain)
        if org != from_domain:
            return self._dmarc_record(org, lookups, subdomain=True)
        return None

    @staticmethod
    def _dmarc_record(domain: str, lookups: Any, *, subdomain: bool) -> DmarcPolicy | None:
        records = [txt for txt in lookups.txt(f"_dmarc.{domain}") if txt[:8].lower() == b"v=dmarc1"]
        if len(records) != 1:  # none, or several: no DMARC policy (RFC 7489 6.6.3)
            return None
        return parse_dmarc(records[0].decode("ascii", "replace"), subdomain=subdomain, domain=domain)

    def _dkim(self, raw: bytes, from_domain: str, policy: DmarcPolicy | None, lookups: Any) -> Any:
        from triage.analyzers import live_dns

        if not raw or len(raw) > _MAX_RAW:
            return live_dns.DkimResult("none", None, False)
        adkim = policy.adkim if policy else "r"
        return live_dns.verify_dkim(
            raw,
            lookups,
            timeout=self.timeout,
            min_key_bits=_MIN_KEY_BITS,
            max_signatures=_MAX_SIGNATURES,
            aligned=lambda d: _aligned(d, from_domain, adkim),
        )

    def _spf(self, target: MessageView, mail_from: str | None, lookups: Any) -> tuple[str | None, str | None]:
        envelope = target.envelope
        ip = envelope.client_ip if envelope and envelope.client_ip else None
        helo = envelope.helo if envelope else None
        if ip is None:
            found = client_from_hops(target.info.received)
            if found is None:
                return None, None
            ip, hop_helo = found
            helo = helo or hop_helo
        try:
            ip = str(ipaddress.ip_address(ip.strip().strip("[]")))
        except ValueError:
            return None, None
        sender = mail_from if mail_from and "@" in mail_from else ""
        helo_host = clean_host(helo or "") or "unknown"
        if not sender and helo_host == "unknown":
            return None, ip
        from triage.analyzers import live_dns

        return live_dns.check_spf(lookups, ip=ip, sender=sender, helo=helo_host, timeout=self.timeout), ip

"""DNS for the live authentication checks: one budgeted resolver, with pyspf and dkimpy wired to it.

Imported only when `[analyzers.live_auth] enabled` is true: dnspython, pyspf and dkimpy together cost about
90 ms to import, which every one-message `triage scan` would otherwise pay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import dkim
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf

from triage.domains import clean_host

__all__ = ["TEMPERROR", "DkimResult", "DnsFailure", "Lookups", "check_spf", "make_resolver", "verify_dkim"]

TEMPERROR = "temperror"


def make_resolver(address: str, port: int, timeout: float) -> dns.resolver.Resolver:
    """A resolver that asks only the configured nameserver (never the system's)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address]
    resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.retry_servfail = False
    return resolver


class DnsFailure(Exception):
    """A lookup that could not be answered: timeout, SERVFAIL, no time left, or the query budget spent."""


@dataclass
class Lookups:
    """One message's DNS: counts queries against the budget and remembers the first failure."""

    resolver: dns.resolver.Resolver
    timeout: float
    max_queries: int
    deadline: float  # time.monotonic() by which every query must be done
    used: int = 0
    failures: list[str] = field(default_factory=list)

    def query(self, name: str, qtype: str) -> list[Any]:
        """The answer's rdata for `name` (CNAMEs followed); [] for NXDOMAIN or no data; DnsFailure otherwise."""
        if self.used >= self.max_queries:
            self._fail("query budget spent")
        lifetime = min(self.timeout, self.deadline - time.monotonic())
        if lifetime <= 0:
            self._fail("no time left")
        self.used += 1
        try:
            qname = dns.name.from_text(name)
            answer = self.resolver.resolve(
                qname, dns.rdatatype.from_text(qtype), raise_on_no_answer=False, lifetime=lifetime, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            self._fail(f"DNS timeout ({qtype} {name})")
        except (dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout):
            self._fail(f"DNS error ({qtype} {name})")
        except dns.exception.DNSException as exc:  # bad names, malformed answers
            if isinstance(exc, (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel)):
                return []
            self._fail(f"DNS error ({qtype} {name}): {type(exc).__name__}")
        except (ValueError, OSError) as exc:
            self._fail(f"DNS error ({qtype} {name}): {type(exc).__name__}")
        return list(answer.rrset) if answer.rrset is not None else []

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(rdata.strings) for rdata in self.query(name, "TXT")]

    def _fail(self, reason: str) -> NoReturn:
        self.failures.append(reason[:200])
        raise DnsFailure(reason)


class SpfQuery(spf.query):  # type: ignore[misc]
    """pyspf's evaluator with its lookups sent through our resolver (pyspf otherwise uses dnspython's default)."""

    def __init__(self, lookups: Lookups, **kwargs: Any) -> None:
        self._lookups = lookups
        super().__init__(**kwargs)

    def dns(self, name: Any, qtype: str, cnames: Any = None, ignore_void: bool = False) -> list[Any]:
        if not name:
            raise spf.PermError("Invalid query")
        host = str(name).rstrip(".").lower()
        if not all(0 < len(label) < 64 for label in host.split(".")):
            return []
        key = (host, qtype)
        if key in self.cache:
            result: list[Any] = self.cache[key]
        else:
            try:
                rdatas = self._lookups.query(host, qtype)
            except DnsFailure as exc:
                raise spf.TempError(f"DNS {exc}") from exc
            result = [_spf_value(qtype, rdata) for rdata in rdatas if rdata.rdtype == dns.rdatatype.from_text(qtype)]
            self.cache[key] = result
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


def _spf_value(qtype: str, rdata: Any) -> Any:
    """An rdata in the shape pyspf's own dnspython lookup returns."""
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return (rdata.preference, rdata.exchange.to_text(omit_final_dot=True))
    if qtype == "PTR":
        return rdata.target.to_text(omit_final_dot=True)
    return tuple(rdata.strings)  # TXT / SPF: the character-strings, joined by pyspf


@dataclass(frozen=True)
class DkimResult:
    result: str  # pass | fail | none | temperror
    domain: str | None  # d= of the signature reported
    aligned_pass: bool


def verify_dkim(
    raw: bytes,
    lookups: Lookups,
    *,
    timeout: float,
    min_key_bits: int,
    max_signatures: int,
    aligned: Callable[[str | None], bool],
) -> DkimResult:
    """The first DKIM signature that verifies with an aligned d=, else the first result (a temperror wins)."""

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        try:
            found = lookups.txt(text)
        except DnsFailure as exc:
            raise dkim.DnsTimeoutError(str(exc)) from exc
        return found[0] if found else None

    try:
        verifier = dkim.DKIM(raw, minkey=min_key_bits, timeout=timeout)
        count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    except Exception:  # dkimpy on hostile bytes: no signature we could read
        return DkimResult("none", None, False)
    if count == 0:
        return DkimResult("none", None, False)
    first: DkimResult | None = None
    for idx in range(min(count, max_signatures)):
        verifier.domain = None
        try:
            result = "pass" if verifier.verify(idx=idx, dnsfunc=dnsfunc) else "fail"
        except dkim.DnsTimeoutError:
            result = TEMPERROR
        except Exception:  # malformed signature, bad key record, anything dkimpy raises
            result = "fail"
        d = _signing_domain(verifier.domain)
        state = DkimResult(result, d, result == "pass" and aligned(d))
        if state.aligned_pass:
            return state
        if first is None or (first.result != TEMPERROR and result == TEMPERROR):
            first = state  # a temperror anywhere keeps the verdict open
    return first or DkimResult("none", None, False)


def check_spf(lookups: Lookups, *, ip: str, sender: str, helo: str, timeout: float) -> str | None:
    """pyspf's result for the client; TEMPERROR on DNS trouble; None when pyspf cannot evaluate the input."""
    try:
        query = SpfQuery(lookups, i=ip, s=sender, h=helo, timeout=timeout)
        result, _code, _explanation = query.check()
    except spf.TempError:
        return TEMPERROR
    except Exception:  # pyspf on hostile input: no SPF result
        return None
    return str(result)


def _signing_domain(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return clean_host(value) if isinstance(value, str) else None

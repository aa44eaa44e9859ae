"""Printable strings in binary content, and the indicators they name: URLs, IPv4 addresses, domains, beacon formats.

For any analyzer that holds bytes it cannot parse further (PE files today; Office streams, scripts and PDF
objects may use it too):

- `extract_strings(data)`: runs of printable ASCII and of UTF-16LE printable ASCII (wide strings, as Windows and
  .NET store them), at least `min_length` characters. Bounded: at most `max_bytes` of input are scanned, at most
  `max_strings` strings kept, each cut at `max_length` characters; the regexes are linear, and `check` (a
  deadline callback) is called between chunks.
- `compressible_regions(data, regions)` and `subtract_spans(regions, holes)`: which parts of the data are worth
  reading (packed or encrypted blocks hold only noise; a certificate table or an embedded archive may be left
  out), to hand to `extract_strings(..., regions=...)`.
- `find_indicators(strings)`: URLs (http, https, ftp), IPv4 addresses and domains. An IPv4 that looks like a
  version number (`6.0.0.0`, `v1.2.3.4`, leading zeros, all single-digit parts) or is not globally routable
  (private, loopback, link-local, documentation, multicast, reserved) is not an indicator: it is returned in
  `skipped` with the reason. A bare domain counts only when its suffix is a real public suffix (the shared
  public suffix list of `triage.domains`), it is written in lower case (`System.Net` is a .NET namespace), and
  it stands alone in its string (with at most a port or path after it). URLs keep any host (a C2 may sit on a
  made-up TLD); their hosts become domains when they have a public suffix. Hosts whose registrable domain is in
  `ignore_domains` (schemas.microsoft.com in every manifest) are dropped and listed in `ignored`.
- `beacon_formats(strings)`: format strings that report the victim's host: `Name:%s IP:%s OS:%s`,
  `hostname=%s&ip=%s&os=%s`, `{"user":"%s","host":"%s"}`, .NET `host={0}`. A key followed by `:` or `=` and a
  printf (`%s`, `%d`, `%ls`...) or .NET (`{0}`) placeholder is a field; the keys are sorted into host, ip, os,
  user and mac; two kinds, one of them host or ip, with two specific keys (not only "name" or "version"), make a
  beacon format.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "BeaconFormat",
    "FoundString",
    "Indicators",
    "SkippedIp",
    "beacon_formats",
    "beacon_kinds",
    "classify_ipv4",
    "compressible_regions",
    "extract_strings",
    "find_indicators",
    "subtract_spans",
]

DEFAULT_MIN_LENGTH = 5
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_STRINGS = 50_000
DEFAULT_MAX_LENGTH = 2048
DEFAULT_MAX_INDICATORS = 200
_CHUNK = 1024 * 1024  # bytes scanned between deadline checks
DEFAULT_BLOCK = 64 * 1024  # compressibility is judged per block
DEFAULT_RANDOM_RATIO = 0.9
_SAMPLE = 4096  # bytes per compressibility sample

_PRINTABLE = rb"[\x20-\x7e\t]"
_WIDE_PRINTABLE = rb"[\x20-\x7e\t]\x00"

_URL = re.compile(r"(?i)(?:https?|ftp)://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_URL_TRAILING = ".,;:!?)]}'\"*"
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|ver|version|build|rev)[\s:=\"']*$")
# a whole string that is a domain, optionally with a port or path: "update.example.com", "cdn.example.net:8080/x"
_BARE_DOMAIN = re.compile(r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62})(?::\d{1,5})?(?:/\S*)?")
# printf conversions and .NET placeholders
_PLACEHOLDER = r"(?:%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|I64|I32|w)?[sSdiuxXc]|\{\d+(?:[:,][^}]{0,10})?\})"
_FIELD_HINT = re.compile(r"[:=]\s*[\"']?(?:%|\{\d)")  # cheap test before the field regex
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_ .-]{0,24}?)[\"']?\s*[:=]\s*[\"']?" + _PLACEHOLDER)

# Top-level domains that are also file extensions: "setup.py", "movie.mov", "filter.ax" are file names. A
# two-label "domain" ending in one is not counted (cdn.example.cc is).
_FILE_TLDS = frozenset(
    {
        "ac",
        "ai",
        "am",
        "app",
        "ax",
        "bat",
        "cab",
        "cat",
        "cc",
        "cs",
        "cx",
        "in",
        "is",
        "it",
        "md",
        "ml",
        "mov",
        "mp",
        "ms",
        "pl",
        "pm",
        "ps",
        "py",
        "rs",
        "run",
        "sc",
        "sh",
        "so",
        "to",
        "tv",
        "ws",
        "zip",
    }
)
_DOCUMENTATION = tuple(
    ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "233.252.0.0/24")
)

# Beacon field keys (lower case, "_", "-", "." and spaces removed) by what they report.
_BEACON_KEYS: dict[str, frozenset[str]] = {
    "host": frozenset(
        {
            "name",
            "host",
            "hostname",
            "hname",
            "computer",
            "computername",
            "comp",
            "compname",
            "pc",
            "pcname",
            "machine",
            "machinename",
            "mname",
            "hn",
            "device",
            "devicename",
            "node",
        }
    ),
    "ip": frozenset({"ip", "ipaddr", "ipaddress", "localip", "lip", "lanip", "addr", "address", "intip", "wanip"}),
    "os": frozenset(
        {
            "os",
            "osver",
            "osversion",
            "osname",
            "system",
            "sys",
            "sysinfo",
            "winver",
            "windows",
            "ver",
            "version",
            "platform",
            "osinfo",
        }
    ),
    "user": frozenset({"user", "username", "usr", "uname", "login", "account", "uid", "userid"}),
    "mac": frozenset({"mac", "macaddr", "macaddress"}),
}
# Keys too common to count on their own ("Name=%s Version=%s" describes a module, not a host).
_GENERIC_KEYS = frozenset({"name", "ver", "version", "system", "sys", "address", "addr", "device", "node", "account"})
_KEY_CLEAN = re.compile(r"[\s_.\-]")


@dataclass(frozen=True)
class FoundString:
    """A printable run: its text, its offset in the data, and whether it was stored as UTF-16LE."""

    text: str
    offset: int
    wide: bool = False


@dataclass(frozen=True)
class SkippedIp:
    """An IPv4-shaped string that is not an indicator, and why: version-like, private, loopback, documentation..."""

    value: str
    reason: str


@dataclass(frozen=True)
class Indicators:
    urls: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()  # hosts with a public suffix, lower case, from URLs and bare domains
    ips: tuple[str, ...] = ()  # globally routable IPv4 addresses, from URLs and text
    skipped: tuple[SkippedIp, ...] = ()
    ignored: tuple[str, ...] = ()  # hosts dropped because their registrable domain is in ignore_domains

    def __bool__(self) -> bool:
        return bool(self.urls or self.domains or self.ips)


@dataclass(frozen=True)
class BeaconFormat:
    """A format string reporting host facts; `kinds` is what its fields report (host, ip, os, user, mac)."""

    text: str
    kinds: tuple[str, ...]


# -- strings -----------------------------------------------------------------------------------------------------
def extract_strings(
    data: bytes | bytearray | memoryview,
    *,
    min_length: int = DEFAULT_MIN_LENGTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_strings: int = DEFAULT_MAX_STRINGS,
    max_length: int = DEFAULT_MAX_LENGTH,
    regions: Sequence[tuple[int, int]] | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[FoundString, ...]:
    """ASCII strings, then UTF-16LE strings, in offset order within each kind; bounded (see the module doc).

    `regions` limits the scan to [start, end) ranges of `data` (to leave out, say, a certificate table); the
    byte budget `max_bytes` is spent across them in order.
    """
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    size = len(view)
    spans = [(0, size)] if regions is None else [(max(0, s), min(size, e)) for s, e in regions if e > s]
    budget = max(0, max_bytes)
    bounded: list[tuple[int, int]] = []
    for start, end in spans:
        if budget <= 0:
            break
        end = min(end, start + budget)
        if end > start:
            bounded.append((start, end))
            budget -= end - start
    minimum = max(1, min_length)
    ascii_re = re.compile(_PRINTABLE + b"{%d,}" % minimum)
    wide_re = re.compile(b"(?:" + _WIDE_PRINTABLE + b"){%d,}" % minimum)
    out: list[FoundString] = []
    for pattern, wide in ((ascii_re, False), (wide_re, True)):
        for start, end in bounded:
            if len(out) >= max_strings:
                break
            _scan(view, pattern, start, end, wide, max_length, max_strings, out, check)
    return tuple(out)


def _scan(
    data: bytes | memoryview,
    pattern: re.Pattern[bytes],
    start: int,
    end: int,
    wide: bool,
    max_length: int,
    max_strings: int,
    out: list[FoundString],
    check: Callable[[], None] | None,
) -> None:
    pos = start
    while pos < end and len(out) < max_strings:
        if check is not None:
            check()
        stop = min(end, pos + _CHUNK)
        next_pos = stop
        for m in pattern.finditer(data, pos, stop):
            if m.end() == stop and stop < end and m.start() > pos:
                # the run may go on past this chunk: read it again from its start in the next one
                next_pos = m.start()
                break
            raw = m.group(0)
            text = raw.decode("utf-16-le" if wide else "ascii", "replace")
            out.append(FoundString(text[:max_length], m.start(), wide))
            if len(out) >= max_strings:
                return
        pos = next_pos


def subtract_spans(regions: Sequence[tuple[int, int]], holes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`regions` without the [start, end) `holes` (a certificate table, an archive analysed on its own)."""
    out = [(s, e) for s, e in regions if e > s]
    for hole_start, hole_end in sorted(holes):
        next_out: list[tuple[int, int]] = []
        for start, end in out:
            if hole_end <= start or hole_start >= end:
                next_out.append((start, end))
                continue
            if start < hole_start:
                next_out.append((start, hole_start))
            if hole_end < end:
                next_out.append((hole_end, end))
        out = next_out
    return out


def compressible_regions(
    data: bytes,
    regions: Sequence[tuple[int, int]],
    *,
    block: int = DEFAULT_BLOCK,
    ratio: float = DEFAULT_RANDOM_RATIO,
    max_bytes: int = DEFAULT_MAX_BYTES,
    check: Callable[[], None] | None = None,
) -> list[tuple[int, int]]:
    """The parts of `regions` worth reading for strings: blocks that zlib (level 1) shrinks below `ratio` of their
    size, judged on two samples (its start and middle) so the test costs an eighth of compressing it all. Random,
    encrypted and compressed bytes (a packed section, an encrypted overlay) hold no strings, only noise, and
    reading them costs most of the time. Stops once `max_bytes` are kept."""
    out: list[tuple[int, int]] = []
    kept = 0
    view = memoryview(data)
    for start, end in regions:
        pos = start
        while pos < end and kept < max_bytes:
            if check is not None:
                check()
            stop = min(end, pos + block)
            if _compressible(view, pos, stop, ratio):
                kept += stop - pos
                if out and out[-1][1] == pos:
                    out[-1] = (out[-1][0], stop)
                else:
                    out.append((pos, stop))
            pos = stop
    return out


def _compressible(view: memoryview, start: int, stop: int, ratio: float) -> bool:
    middle = start + (stop - start) // 2
    for at in (start, middle) if stop - start > 2 * _SAMPLE else (start,):
        end = min(stop, at + _SAMPLE) if stop - start > 2 * _SAMPLE else stop
        if len(zlib.compress(view[at:end], 1)) < (end - at) * ratio:
            return True
    return False


# -- indicators --------------------------------------------------------------------------------------------------
def _psl_registrable(host: str) -> str | None:
    from triage.domains import shared_public_suffix_list

    try:
        result = shared_public_suffix_list().privatesuffix(host)
    except Exception:  # the library on a name it was not built for: no registrable domain
        return None
    return str(result) if result else None


def _version_like(numbers: Sequence[int], before: str) -> bool:
    if _VERSION_BEFORE.search(before[-16:]):
        return True
    if numbers[2] == 0 and numbers[3] == 0 and numbers[0] < 32:
        return True  # 6.0.0.0, 4.0.0.0: assembly and file versions
    # 1.2.3.4, 5.1.2.0 are versions; 8.8.8.8 and 1.1.1.1 stay addresses
    return all(n < 10 for n in numbers) and len(set(numbers)) > 1


def classify_ipv4(text: str, before: str = "", *, in_url: bool = False) -> SkippedIp | None:
    """None when `text` is a globally routable IPv4 address worth reporting, else why not. `before` is the text
    just before it in its string (a "v" or "version" there makes it a version number); the host of a URL
    (`in_url`) is an address whatever it looks like."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return SkippedIp(text, "not an address")
    if not in_url and any(len(p) > 1 and p.startswith("0") for p in parts):
        return SkippedIp(text, "version-like")
    numbers = [int(p) for p in parts]
    if any(n > 255 for n in numbers):
        return SkippedIp(text, "not an address")
    if not in_url and _version_like(numbers, before):
        return SkippedIp(text, "version-like")
    address = ipaddress.IPv4Address(".".join(str(n) for n in numbers))
    if any(address in net for net in _DOCUMENTATION):
        return SkippedIp(text, "documentation")
    if address.is_loopback:
        return SkippedIp(text, "loopback")
    if address.is_link_local:
        return SkippedIp(text, "link-local")
    if address.is_multicast:
        return SkippedIp(text, "multicast")
    if address.is_reserved or address.is_unspecified:
        return SkippedIp(text, "reserved")
    if address.is_private:
        return SkippedIp(text, "private")
    if not address.is_global:
        return SkippedIp(text, "reserved")
    return None


def find_indicators(
    strings: Iterable[str],
    *,
    ignore_domains: Collection[str] = frozenset(),
    versions: Collection[str] = frozenset(),
    limit: int = DEFAULT_MAX_INDICATORS,
    check: Callable[[], None] | None = None,
) -> Indicators:
    """URLs, domains and IPv4 addresses named in `strings` (see the module doc); each list keeps its first
    `limit` distinct values in order of appearance. `versions` are dotted numbers the caller knows to be
    version numbers (a PE's FileVersion): skipped as "version info"."""
    urls: dict[str, None] = {}
    domains: dict[str, None] = {}
    ips: dict[str, None] = {}
    skipped: dict[SkippedIp, None] = {}
    ignored: dict[str, None] = {}

    def add(target: dict[str, None], value: str) -> None:
        if len(target) < limit:
            target.setdefault(value)

    def host_seen(host: str) -> bool:
        """Record a host; False when it is ignored."""
        host = host.lower().rstrip(".")
        if not host:
            return True
        if _IPV4.fullmatch(host):
            why = classify_ipv4(host, in_url=True)
            if why is None:
                add(ips, host)
            else:
                add_skipped(why)
            return True
        registrable = _psl_registrable(host)
        if registrable is not None and registrable in ignore_domains:
            add(ignored, host)
            return False
        if registrable is not None:
            add(domains, host)
        return True

    def add_skipped(item: SkippedIp) -> None:
        if len(skipped) < limit:
            skipped.setdefault(item)

    for count, text in enumerate(strings):
        if check is not None and count % 1024 == 1023:
            check()
        if "." not in text:
            continue
        url_spans: list[tuple[int, int]] = []
        if "://" in text:
            for m in _URL.finditer(text):
                url = m.group(0)
                while url and url[-1] in _URL_TRAILING:
                    url = url[:-1]
                url_spans.append((m.start(), m.start() + len(url)))
                try:
                    host = urlsplit(url).hostname or ""
                except ValueError:
                    continue
                if not host:
                    continue
                if host_seen(host):
                    add(urls, url)
        for m in _IPV4.finditer(text):
            if any(s <= m.start() < e for s, e in url_spans):
                continue
            value = m.group(0)
            why = SkippedIp(value, "version info") if value in versions else classify_ipv4(value, text[: m.start()])
            if why is None:
                add(ips, value)
            else:
                add_skipped(why)
        if not url_spans:
            stripped = text.strip()
            bare = _BARE_DOMAIN.fullmatch(stripped)
            if bare is not None and not _IPV4.fullmatch(bare.group(1)) and not _file_name_like(bare.group(1)):
                host_seen(bare.group(1))
    return Indicators(
        urls=tuple(urls),
        domains=tuple(domains),
        ips=tuple(ips),
        skipped=tuple(skipped),
        ignored=tuple(ignored),
    )


def _file_name_like(host: str) -> bool:
    labels = host.split(".")
    return len(labels) == 2 and labels[1] in _FILE_TLDS


# -- beacon formats ----------------------------------------------------------------------------------------------
def _kind(key: str) -> tuple[str, bool] | None:
    """(kind, generic) of a field key, or None."""
    words = key.strip().split()
    # "Computer Name" and "OS Version" are one key; "Hello Name" ends in the key word
    candidates = ["".join(words).lower(), words[-1].lower()] if words else []
    for candidate in candidates:
        cleaned = _KEY_CLEAN.sub("", candidate)
        for kind, keys in _BEACON_KEYS.items():
            if cleaned in keys:
                return kind, cleaned in _GENERIC_KEYS
    return None


def beacon_kinds(text: str) -> tuple[str, ...]:
    """What the fields of one format string report, in order of first appearance, when it reads like a beacon:
    two kinds or more, one of them host or ip, and two fields with specific keys (not just name/version)."""
    if ("%" not in text and "{" not in text) or not _FIELD_HINT.search(text):
        return ()
    kinds: dict[str, None] = {}
    specific: set[str] = set()
    for m in _FIELD.finditer(text):
        found = _kind(m.group(1))
        if found is not None:
            kind, generic = found
            kinds.setdefault(kind)
            if not generic:
                specific.add(kind)
    if len(kinds) >= 2 and ("host" in kinds or "ip" in kinds) and len(specific) >= 2:
        return tuple(kinds)
    return ()


def beacon_formats(
    strings: Iterable[str], *, limit: int = 20, check: Callable[[], None] | None = None
) -> tuple[BeaconFormat, ...]:
    """Format strings that report host facts (see `beacon_kinds`), distinct, in order of appearance."""
    out: dict[str, BeaconFormat] = {}
    for count, text in enumerate(strings):
        if check is not None and count % 1024 == 1023:
            check()
        kinds = beacon_kinds(text)
        if kinds and text not in out:
            out[text] = BeaconFormat(text, kinds)
            if len(out) >= limit:
                break
    return tuple(out.values())

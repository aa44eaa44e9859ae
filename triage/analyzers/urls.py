"""Links that hide where they go: IP hosts, link text showing another domain, lookalike hosts, shorteners.

Message scope. URLs come from the text body, the HTML body's text, and the HTML's link attributes (href, src,
action, formaction, background) read by a linear scanner (`scan_html`): the HTML may be hostile and up to
1 MiB, and a tag or anchor that never closes must not make the scan quadratic. Defanged forms (hxxp://,
example[.]com) are not re-fanged: they cannot be clicked. Every URL, its host and any IP host go to the
report's IOCs (at most `max_urls` URLs per message).

- URL_IP_LITERAL: the host is an IP address, dotted or disguised (decimal 3405803781, hex 0xcb007105, octal,
  IPv6). 0.3 for loopback, private and link-local addresses (documentation and test pages), else 1.0.
- URL_TEXT_MISMATCH: an anchor's text is itself a URL or domain whose registrable domain differs from the
  href's (two domains of one brand in rules/lists/brands.toml are not a mismatch; click tracking under the
  shown domain, click.example.com for example.com, is not either); or the URL hides a domain before "@"
  (http://www.mod.go.jp@evil.example/).
- URL_LOOKALIKE_DOMAIN: the host imitates a go.jp/lg.jp domain or a brand (`DomainTools.lookalike`).
- URL_SHORTENER: the host or its registrable domain is a URL shortener (rules/lists/shorteners.txt).

Options ([analyzers.urls], all optional): `gov_bodies`, `lg_jp`, `brands`, `shorteners` (rules paths),
`max_urls` (int, default 500).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, AnyStr
from urllib.parse import urlsplit

from triage.domains import DomainTools, load_domain_list, load_domain_tools
from triage.errors import ConfigError
from triage.ingest.eml import html_to_text
from triage.model import Finding
from triage.names import escape_controls
from triage.plugins import MessageView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["ExtractedUrl", "UrlAnalyzer", "ip_host", "scan_html", "text_urls"]

DEFAULT_GOV_BODIES = "lists/gov_bodies.toml"
DEFAULT_LG_JP = "lists/lg_jp.toml"
DEFAULT_BRANDS = "lists/brands.toml"
DEFAULT_SHORTENERS = "lists/shorteners.txt"
DEFAULT_MAX_URLS = 500
_OPTIONS = frozenset({"gov_bodies", "lg_jp", "brands", "shorteners", "max_urls"})

_MAX_TAG = 8192  # characters of one tag whose attributes are read
_MAX_ANCHOR_RAW = 1024  # characters of an anchor's content reduced to text
_MAX_URL = 2048
_EVIDENCE_URL = 100
_MAX_EVIDENCE = 5
_DEADLINE_EVERY = 256

# A URL in text stops at whitespace, quotes, angle brackets and Japanese script (Japanese text often runs on
# straight after a URL, with no space). Each match consumes what it scanned: linear.
_STOP = "\\s<>\"'`{}|\\\\^\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff01-\uffef"
_URL_AT = re.compile(rf"(?i)(?:https?|ftp)://[^{_STOP}]+")
_BEFORE_URL = re.compile(r"[A-Za-z0-9_.@/-]")  # ASCII only: Japanese text runs straight into URLs
_WWW = re.compile(rf"(?<![A-Za-z0-9_.@/-])[wW]{{3}}\.[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+[^{_STOP}]*")
_TRAILING = ".,;:!?)]}'\"*"
_LINK_ATTRS = ("href", "src", "action", "background")  # "formaction" is found as "action"
# Every value alternative succeeds (an unclosed quote runs to the end of the tag), so reading is linear.
_ATTR_VALUE = re.compile(r"""\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s>"']+))""")
# Tags whose attributes carry links a reader follows or a client loads (table backgrounds and media are left out:
# they only show pictures, and reading every <td> of a newsletter costs more than it finds).
_LINK_TAG_NAMES = ("iframe", "script", "frame", "embed", "area", "form", "link", "base", "img", "a")
# Plain literals after a literal "<" (no re.IGNORECASE, no character classes): the regex engine skips ahead fast.
_LINK_TAG = re.compile(b"<(" + "|".join(_LINK_TAG_NAMES).encode() + rb")(?=[\s/>])")
_CLOSE_A = re.compile(rb"</a\s*>")
# the same for an ASCII document read as str (\s limited to what it matches in bytes)
_LINK_TAG_TEXT = re.compile("<(" + "|".join(_LINK_TAG_NAMES) + r")(?=[ \t\n\r\f\v/>])")
_CLOSE_A_TEXT = re.compile(r"</a[ \t\n\r\f\v]*>")
_SHOWN = re.compile(
    r"(?i)^(?:(?P<scheme>https?|ftp)://)?(?P<host>(?:[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62})\.?"
    r"(?::\d{1,5})?(?:[/?#]\S*)?$"
)
# Extensions that are also top-level domains: "report.zip" shown on a link is a file name, not a domain.
_FILE_TLDS = frozenset({"zip", "mov", "md", "py", "sh", "pl", "rs", "ps", "cs", "so", "im", "in", "is", "it", "to"})
_IP_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*")
_NON_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "::/128",
    )
)


@dataclass(frozen=True)
class ExtractedUrl:
    url: str
    anchor_text: str | None = None  # the text of the <a> that links to it, when it came from one


@dataclass(frozen=True)
class IpHost:
    address: str
    form: str  # "dotted", "decimal", "hex", "octal", "mixed", "IPv6"
    global_: bool


def text_urls(text: str) -> Iterator[str]:
    """Absolute URLs (and www. hosts) written in plain text, trailing punctuation trimmed."""
    # "://" is found with str.find (fast); the scheme is read backwards from it and the rest matched forwards
    pos = 0
    while True:
        sep = text.find("://", pos)
        if sep < 0:
            break
        start = sep
        while start > 0 and sep - start < 5 and text[start - 1].isascii() and text[start - 1].isalpha():
            start -= 1
        m = _URL_AT.match(text, start)
        if m is None or (start > 0 and _BEFORE_URL.match(text, start - 1)):
            pos = sep + 3
            continue
        pos = m.end()
        url = _trim(m.group(0))
        if url:
            yield url
    if "www." in text or "WWW." in text:
        for m in _WWW.finditer(text):
            url = _trim(m.group(0))
            if url:
                yield url


def _trim(raw: str) -> str | None:
    url = raw[:_MAX_URL]
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url if len(url) > 8 else None


def scan_html(html: str, limit: int, ctx: PluginContext | None = None) -> list[ExtractedUrl]:
    """Link attributes of an HTML document and, for <a>, the anchor's text. One forward pass over the document
    lower-cased (an ASCII document as it is, any other as UTF-8 bytes, whose lower-casing is ASCII only, so
    positions hold): link tags are found by a regex of plain literals, each tag's `>` with find (remembered, so a
    run of unclosed tags is not rescanned), the next `</a>` with a search from the tag on (remembered likewise);
    a tag's attributes are read from at most `_MAX_TAG` bytes."""
    if html.isascii():
        return _scan(html, html.lower(), _LINK_TAG_TEXT, _CLOSE_A_TEXT, ">", "a", limit, ctx)
    data = html.encode("utf-8", "surrogatepass")
    return _scan(data, data.lower(), _LINK_TAG, _CLOSE_A, b">", b"a", limit, ctx)


def _scan(
    data: AnyStr,
    low: AnyStr,
    link_tag: re.Pattern[AnyStr],
    close_a: re.Pattern[AnyStr],
    gt: AnyStr,
    a: AnyStr,
    limit: int,
    ctx: PluginContext | None,
) -> list[ExtractedUrl]:
    out: list[ExtractedUrl] = []
    close_at = -1  # where the next </a> starts (n: none left); found lazily
    anchors: dict[AnyStr, str] = {}  # anchor contents already reduced to text
    n = len(data)
    next_gt = -1
    for steps, m in enumerate(link_tag.finditer(low)):
        if len(out) >= limit:
            break
        if ctx is not None and steps % _DEADLINE_EVERY == _DEADLINE_EVERY - 1:
            ctx.check_deadline()
        start = m.end()
        if next_gt < start:
            next_gt = low.find(gt, start)
            if next_gt < 0:
                next_gt = n  # an unclosed last tag: its attributes run to the end
        j = next_gt
        for attr, value in _attributes(_text(data[start : min(j, start + _MAX_TAG)])):
            anchor: str | None = None
            if attr == "href" and m.group(1) == a:
                # the next </a> after the tag; tags come in order, so each search starts past the last one found
                if close_at <= j:
                    found = close_a.search(low, j + 1)
                    close_at = found.start() if found is not None else n
                raw = data[j + 1 : min(close_at, j + 1 + _MAX_ANCHOR_RAW)]
                anchor = anchors.get(raw)
                if anchor is None:
                    anchor = anchors[raw] = _anchor_text(_text(raw))
            out.append(ExtractedUrl(value.strip()[:_MAX_URL], anchor))
            if len(out) >= limit:
                break
    return out


def _text(chunk: str | bytes) -> str:
    return chunk if isinstance(chunk, str) else chunk.decode("utf-8", "replace")


def _attributes(tag: str) -> list[tuple[str, str]]:
    """(name, value) of the link attributes in one tag's text, in order. Attribute names are found with
    str.find on the lower-cased tag (fast, no per-character regex scan); each value is read by an anchored
    match whose alternatives always succeed."""
    low = tag.lower()
    found: list[tuple[int, str, str]] = []
    for attr in _LINK_ATTRS:
        start = 0
        while (i := low.find(attr, start)) >= 0:
            start = i + len(attr)
            before = low[i - 1] if i > 0 else " "
            inside = before.isalnum() or before in "-_:."
            if inside and not (attr == "action" and low.endswith("form", 0, i)):
                continue  # part of another name (data-src); "formaction" is one of ours
            m = _ATTR_VALUE.match(tag, start)
            if m is not None:
                value = m.group(1) if m.group(1) is not None else m.group(2) or m.group(3) or ""
                found.append((i, attr, value))
    found.sort()
    return [(attr, value) for _, attr, value in found]


def _anchor_text(raw: str) -> str:
    if "<" not in raw and "&" not in raw:
        return " ".join(raw.split())
    return html_to_text(raw, limit=512)


def ip_host(host: str) -> IpHost | None:
    """The host as an IP address when it is one, in any form a browser accepts."""
    if host.startswith("[") and host.endswith("]"):
        try:
            v6 = ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return None
        return IpHost(str(v6), "IPv6", not any(v6 in net for net in _NON_GLOBAL))
    parts = host.lower().split(".")
    if not 1 <= len(parts) <= 4 or not all(_IP_PART.fullmatch(p) for p in parts):
        return None
    values: list[int] = []
    forms: set[str] = set()
    for part in parts:
        if part.startswith("0x"):
            values.append(int(part[2:] or "0", 16))
            forms.add("hex")
        elif len(part) > 1 and part.startswith("0"):
            values.append(int(part, 8))
            forms.add("octal")
        else:
            values.append(int(part))
            forms.add("decimal")
    # inet_aton: the last part fills every byte the earlier ones did not
    last_bytes = 5 - len(values)
    if any(v > 255 for v in values[:-1]) or values[-1] >= 256**last_bytes:
        return None
    number = 0
    for v in values[:-1]:
        number = number * 256 + v
    number = number * 256**last_bytes + values[-1]
    address = ipaddress.IPv4Address(number)
    if len(parts) == 4 and forms == {"decimal"}:
        form = "dotted"
    elif len(forms) == 1:
        form = forms.pop()
    else:
        form = "mixed"
    return IpHost(str(address), form, not any(address in net for net in _NON_GLOBAL))


@dataclass(frozen=True)
class _Url:
    url: str
    host: str  # as written (lower-case), brackets kept for IPv6
    userinfo: str


# A URL of printable ASCII without brackets (nearly all of them): urlsplit would strip, remove and validate
# nothing there, so its authority is read directly; any other URL goes through urlsplit.
_PLAIN_URL = re.compile(r"[\x21-\x5a\x5c\x5e-\x7e]+")
_PLAIN_AUTHORITY = re.compile(r"(?i)(?:https?|ftp)://([^/?#]*)")
_AUTHORITY = re.compile(r"[^/?#]*")


def _split(url: str) -> _Url | None:
    if _PLAIN_URL.fullmatch(url):
        if url[:4].lower() == "www.":
            netloc = _authority(url, 0)
        elif url.startswith("//"):
            netloc = _authority(url, 2)
        else:
            m = _PLAIN_AUTHORITY.match(url)
            if m is None:
                return None  # no scheme, another scheme, or no authority
            netloc = m.group(1)
        return _from_netloc(url, netloc)
    text = url.strip()
    if text.lower().startswith("www."):
        text = "http://" + text
    elif text.startswith("//"):
        text = "http:" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", "ftp"):
        return None
    return _from_netloc(url, parts.netloc)


def _authority(url: str, start: int) -> str:
    m = _AUTHORITY.match(url, start)
    return m.group(0) if m is not None else ""


def _from_netloc(url: str, netloc: str) -> _Url | None:
    userinfo, _, hostport = netloc.rpartition("@")
    host = hostport
    if host.startswith("["):
        close = host.find("]")
        host = host[: close + 1] if close > 0 else host
    else:
        host = host.split(":", 1)[0]
    host = host.strip().lower().rstrip(".")
    if not host:
        return None
    return _Url(url=url, host=host, userinfo=userinfo)


def _short(url: str) -> str:
    text = escape_controls(url)
    return text if len(text) <= _EVIDENCE_URL else text[: _EVIDENCE_URL - 1] + "…"


class UrlAnalyzer:
    name = "urls"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits = declared_emits(__name__, "UrlAnalyzer")

    def __init__(self) -> None:
        self._tools: DomainTools | None = None
        self._shorteners: frozenset[str] = frozenset()
        self._max_urls = DEFAULT_MAX_URLS

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.urls")
        paths: dict[str, str] = {}
        for key, default in (
            ("gov_bodies", DEFAULT_GOV_BODIES),
            ("lg_jp", DEFAULT_LG_JP),
            ("brands", DEFAULT_BRANDS),
            ("shorteners", DEFAULT_SHORTENERS),
        ):
            value = options.get(key, default)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"[analyzers.urls] {key} must be a path to a rules file")
            paths[key] = value
        max_urls = options.get("max_urls", DEFAULT_MAX_URLS)
        if isinstance(max_urls, bool) or not isinstance(max_urls, int) or not 1 <= max_urls <= 10000:
            raise ConfigError("[analyzers.urls] max_urls must be an integer from 1 to 10000")
        self._max_urls = max_urls
        self._tools = load_domain_tools(
            gov_bodies=config.rules_path(paths["gov_bodies"]),
            lg_jp=config.rules_path(paths["lg_jp"]),
            brands=config.rules_path(paths["brands"]),
        )
        self._shorteners = frozenset(load_domain_list(config.rules_path(paths["shorteners"])))

    @property
    def tools(self) -> DomainTools:
        if self._tools is None:
            raise RuntimeError("UrlAnalyzer.setup() was not called")
        return self._tools

    def extract(self, target: MessageView, ctx: PluginContext | None = None) -> list[ExtractedUrl]:
        """Every link of the message, HTML attributes first (they carry anchor texts), de-duplicated."""
        found: dict[tuple[str, str | None], ExtractedUrl] = {}
        limit = self._max_urls
        if target.html:
            for item in scan_html(target.html, limit, ctx):
                found.setdefault((item.url, item.anchor_text), item)
        for text in (target.text, target.html_text):
            for k, url in enumerate(text_urls(text)):
                if len(found) >= limit:
                    break
                if ctx is not None and k % _DEADLINE_EVERY == _DEADLINE_EVERY - 1:
                    ctx.check_deadline()
                found.setdefault((url, None), ExtractedUrl(url))
        return list(found.values())[:limit]

    def analyze(self, target: MessageView, ctx: PluginContext) -> Iterable[Finding]:
        tools = self.tools
        ip_evidence: list[str] = []
        ip_strength = 0.0
        mismatch: list[str] = []
        lookalike: list[str] = []
        shortened: list[str] = []
        hosts: dict[str, tuple[str | None, IpHost | None]] = {}  # host -> (registrable, ip)
        split: dict[str, _Url | None] = {}  # one URL often comes with several anchor texts
        seen_urls: set[str] = set()
        for k, item in enumerate(self.extract(target, ctx)):
            if k % _DEADLINE_EVERY == _DEADLINE_EVERY - 1:
                ctx.check_deadline()
            if item.url in split:
                parts = split[item.url]
            else:
                parts = split[item.url] = _split(item.url)
            if parts is None:
                continue
            host = parts.host
            if host not in hosts:
                ip = ip_host(host)
                facts = None if ip is not None else tools.facts(host)
                hosts[host] = (facts.registrable if facts else None, ip)
                if ip is not None:
                    ctx.add_ioc("ips", ip.address)
                elif facts is not None:
                    ctx.add_ioc("domains", facts.host)
                    found = tools.lookalike_of(facts)
                    if found is not None and len(lookalike) < _MAX_EVIDENCE:
                        lookalike.append(f"{_short(item.url)}: {found.describe()}")
                    short = facts.host in self._shorteners or facts.registrable in self._shorteners
                    if short and len(shortened) < _MAX_EVIDENCE:
                        shortened.append(_short(item.url))
            reg, ip = hosts[host]
            if item.url not in seen_urls:
                seen_urls.add(item.url)
                ctx.add_ioc("urls", item.url)
                if ip is not None and len(ip_evidence) < _MAX_EVIDENCE:
                    how = "" if ip.form == "dotted" else f" ({ip.form} form of {ip.address})"
                    ip_evidence.append(f"{_short(item.url)}{how}")
                    ip_strength = max(ip_strength, 1.0 if ip.global_ else 0.3)
                if parts.userinfo and "." in parts.userinfo and len(mismatch) < _MAX_EVIDENCE:
                    mismatch.append(f"{_short(item.url)}: shows {_short(parts.userinfo)} before @, goes to {host}")
            if item.anchor_text and len(mismatch) < _MAX_EVIDENCE:
                shown = self._shown_domain(item.anchor_text)
                if shown is not None and self._differs(shown, reg, ip):
                    mismatch.append(
                        f'link text "{_short(item.anchor_text.strip())}" shows {shown}, goes to {_short(item.url)}'
                    )
        findings: list[Finding] = []
        for finding_id, evidence, strength in (
            ("URL_IP_LITERAL", ip_evidence, ip_strength),
            ("URL_TEXT_MISMATCH", mismatch, 1.0),
            ("URL_LOOKALIKE_DOMAIN", lookalike, 1.0),
            ("URL_SHORTENER", shortened, 1.0),
        ):
            if evidence:
                findings.append(
                    Finding(
                        id=finding_id,
                        artifact=target.artifact,
                        analyzer=self.name,
                        strength=strength,
                        evidence=tuple(evidence),
                    )
                )
        return findings

    def _shown_domain(self, text: str) -> str | None:
        """The registrable domain an anchor's text shows, when the whole text is a URL or a domain name."""
        shown = unicodedata.normalize("NFKC", text).strip()
        if not shown or len(shown) > 300:
            return None
        m = _SHOWN.match(shown)
        if m is None:
            return None
        host = m.group("host").lower()
        bare = m.group("scheme") is None and not host.startswith("www.")
        if bare and host.rsplit(".", 1)[-1] in _FILE_TLDS:
            return None
        return self.tools.registrable(host)

    def _differs(self, shown: str, reg: str | None, ip: IpHost | None) -> bool:
        if ip is not None:
            return True
        if reg is None or reg == shown:
            return False
        tools = self.tools
        brand = tools.brand_of(shown)
        return brand is None or tools.brand_of(reg) is not brand

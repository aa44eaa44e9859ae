"""Who really sent it: government impersonation, reply paths that lead elsewhere, free mail posing as an organisation.

Message scope. Lists come from rules/lists (loaded and indexed once in setup, through `triage.domains`).

- SENDER_GOV_DISPLAY_NAME: the From display name, or a line of the signature block, names a government body
  (防衛省, 経産省, "Ministry of Economy, Trade and Industry", METI; generic English names and acronyms such as
  "Ministry of Defense" or MOD only with "Japan" beside them), or shows a go.jp/lg.jp domain, and the From
  address is not in that body's domain. Strength 1.0 from a non-government domain, 0.5 from another go.jp or
  lg.jp domain (a real official writing from another body's domain is unusual but possible); signature-only
  claims count 0.8 of that.
- SENDER_GOV_LOOKALIKE: From, Reply-To, Return-Path, Sender or the envelope MAIL FROM is in a domain that
  imitates a go.jp/lg.jp one (`DomainTools.lookalike`); 1.0 for From and MAIL FROM, 0.8 for the others.
- SENDER_GOV_UNVERIFIED: From is in go.jp/lg.jp and the receiving side's Authentication-Results contradict it
  (DMARC fail, or every result present is fail/softfail/none/permerror, a pass for another domain counting as
  none): 1.0; or, with Received headers present and no recipient in the same domain, no hop came from that
  domain: 0.5. Never when DKIM or SPF passed for the From domain (or passed without naming a domain).
- SENDER_REPLY_MISMATCH: Reply-To or Sender is in another registrable domain than From: 1.0 when it is free
  mail and From is not, 0.5 otherwise; a Return-Path counts only when it is free mail and From is not (1.0):
  forwarding, web servers and bulk senders rewrite it all the time. Never for mailing lists (List-Id and the
  other list headers, Precedence: list/bulk, an owner-/-request/-bounces Sender: Sender and Return-Path are the
  list's, and a Reply-To to the list's domain is normal), bounce addresses (VERP/SRS local parts), two domains
  of one brand (rules/lists/brands.toml), or an empty Return-Path.
- SENDER_FREEMAIL_ORG_CLAIM: From is free mail and the text makes a "private address" excuse (プライベート
  アドレスより…): 1.0; or the signature block or display name claims an organisation (a government body, or
  株式会社/省/庁/大学/研究所/協会/機構/センター with a 部/課/室/局 line, "Ministry of", "Co., Ltd.", "Inc."): 0.6.

Options ([analyzers.sender], all optional): `gov_bodies`, `lg_jp`, `freemail`, `brands` (rules paths),
`signature_lines` (int, default 15). Live SPF/DKIM/DMARC checks are not implemented: the analyzer reads what
the receiving MTA wrote, and never touches the network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triage.domains import DomainTools, GovBody, HostFacts, load_domain_tools
from triage.errors import ConfigError
from triage.model import Finding
from triage.names import escape_controls
from triage.plugins import MessageView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["BodyMatcher", "SenderAnalyzer", "signature_block"]

DEFAULT_GOV_BODIES = "lists/gov_bodies.toml"
DEFAULT_LG_JP = "lists/lg_jp.toml"
DEFAULT_FREEMAIL = "lists/freemail.txt"
DEFAULT_BRANDS = "lists/brands.toml"
DEFAULT_SIGNATURE_LINES = 15
_OPTIONS = frozenset({"gov_bodies", "lg_jp", "freemail", "brands", "signature_lines"})
GOV_KINDS = frozenset({"gov"})

_TEXT_SCAN = 64 * 1024  # characters of body text searched for excuses; they sit in the first lines anyway
_SIG_LINE_MAX = 60  # a longer line is prose, not a signature line
_EVIDENCE_CHARS = 120
_FAILING = frozenset({"fail", "softfail", "none", "permerror", "hardfail"})
_CAPITALISED = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Za-z0-9'-]*")
_HIRAGANA = re.compile(r"[\u3041-\u309f]")
_JAPAN = re.compile(r"(?i:\bjapan(?:ese)?\b)|日本")
_GO_DOMAIN_SHOWN = re.compile(r"(?i)(?<![a-z0-9.-])((?:[a-z0-9-]+\.)+(?:go|lg)\.jp)(?![a-z0-9-])")
# where a reply's quoted original starts: everything below is someone else's text and signature. The pattern
# starts with a literal newline, so the regex engine skips from line to line.
_QUOTE_START = re.compile(
    r"\n[ \t]*(?:-{2,}[ \t]*(?:Original Message|Forwarded message|元のメッセージ|転送メッセージ)"
    r"|(?:差出人|送信者|From)[ \t]*[:：]"
    r"|On [^\n]{0,200}wrote:"
    r"|\d{4}年\d{1,2}月\d{1,2}日[^\n]{0,120}[:：][ \t\r]*(?:\n|$)"
    r"|[>＞])"
)
_SIG_CHUNK = 2048  # characters at the end of the text read first for the signature block
_TAIL_CHARS = 8 * 1024  # the signature is in the last lines: this many characters hold them
# "writing from my private address": the address word, then within a few characters a "from/with" ending, so a
# web form's field label (個人のメールアドレス……) is not an excuse
_EXCUSE = re.compile(
    r"(?:プライベート(?:の)?(?:メール)?アドレス|私用(?:の)?(?:メール)?アドレス|私用(?:の)?メール|個人(?:の)?(?:メール)?アドレス"
    r"|個人(?:の)?メール|フリーメール|個人アカウント|私用アカウント|自宅(?:の)?(?:メール)?アドレス)"
    r"[^\n。]{0,6}?(?:より|から|にて|を使|で(?:送|失礼|連絡|ご連絡|お送り|お知らせ|メール))"
    r"|(?i:\b(?:my|a)\s+(?:personal|private)\s+(?:e-?mail|address|account|mailbox)\b"
    r"|\bfrom\s+(?:my\s+)?(?:personal|private)\s+(?:e-?mail|address|account)\b)"
)
_ORG_WORD = re.compile(
    r"株式会社|有限会社|合同会社|合資会社|（株）|\(株\)|㈱|（有）|\(有\)|㈲"
    r"|[\u4e00-\u9fff]{1,10}[省庁](?![\u4e00-\u9fff\u3041-\u309f])"
    r"|(?:大学|研究所|協会|機構|センター|財団|法人)"
)
_UNIT_WORD = re.compile(
    r"[\u4e00-\u9fff\u30a0-\u30ffー]{1,12}(?:部|課|室|局|係|グループ)(?![\u4e00-\u9fff\u3041-\u309f])"
)
_ORG_EN = re.compile(r"\bMinistry of\b|\bCo\.,?\s*Ltd\b|\bInc\.|\bCorporation\b|\bCorp\.|\bLimited\b|\bK\.K\.")
_LIST_HEADERS = frozenset(
    {"list-id", "list-post", "list-help", "list-subscribe", "mailing-list", "x-mailing-list", "x-ml-name", "x-ml-count"}
)
_LIST_HEADER_LENGTHS = frozenset(len(h) for h in (*_LIST_HEADERS, "precedence"))
_LIST_LOCAL = re.compile(r"(?i)^owner-|-owner$|-request$|-bounces?$|-admin$|^majordomo|^listserv|^mailman")
_DOMAINISH = re.compile(r"(?<![A-Za-z0-9-])(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")
_BOUNCE_LOCAL = re.compile(r"(?i)bounce|bnc|return|verp|mailer-daemon|^prvs=|^btv1==|[=+]|[0-9a-f]{16,}|\d{6,}")


@dataclass(frozen=True)
class Mention:
    body: GovBody
    text: str  # the name as written


class BodyMatcher:
    """Finds government bodies named in text (a display name or a signature block).

    Japanese names are found by one regex (an alternation grouped by first character), English names and acronyms
    among the capitalised words, which are only looked at when a cheap search finds one that could be a name."""

    def __init__(self, bodies: Sequence[GovBody]) -> None:
        by_first: dict[str, list[tuple[str, GovBody]]] = {}
        english: dict[str, list[tuple[str, GovBody, bool]]] = {}  # first word -> (name, body, needs Japan)
        acronyms: dict[str, tuple[GovBody, bool]] = {}
        for body in bodies:
            for name in body.ja:
                normal = unicodedata.normalize("NFKC", name)
                by_first.setdefault(normal[0], []).append((normal, body))
            for names, generic in ((body.en, False), (body.en_generic, True)):
                for name in names:
                    folded = name.casefold()
                    english.setdefault(folded.split(" ", 1)[0], []).append((folded, body, generic))
            for name in body.acronyms:
                acronyms.setdefault(name, (body, False))
            for name in body.acronyms_generic:
                acronyms.setdefault(name, (body, True))
        # longest first, so 総務省統計局 wins over 総務省 at the same position; one regex finds the leftmost name
        # and, there, the longest (alternatives grouped by their first character, longest first within a group)
        self._ja_body: dict[str, GovBody] = {}
        branches: list[str] = []
        for first, group in sorted(by_first.items()):
            longest_first = sorted(group, key=lambda nb: -len(nb[0]))
            for ja_name, ja_body in longest_first:
                self._ja_body.setdefault(ja_name, ja_body)
            tails = "|".join(re.escape(ja_name[1:]) for ja_name, _ in longest_first)
            branches.append(f"{re.escape(first)}(?:{tails})")
        self._ja_names = re.compile("|".join(branches)) if branches else None
        self._english = {k: sorted(v, key=lambda n: -len(n[0])) for k, v in english.items()}
        self._acronyms = acronyms
        # every capitalised word the English pass looks up starts with one of these (a first word, ASCII case
        # aside, or an acronym): text without any has no English mention, and the pass is skipped. Each branch
        # starts with a literal capital, so the regex engine skips quickly to candidates.
        hints: dict[str, list[str]] = {}
        for key in english:
            if key.isascii() and "a" <= key[0] <= "z":
                hints.setdefault(key[0].upper(), []).append(f"(?i:{re.escape(key[1:])})" if len(key) > 1 else "")
        for acronym in acronyms:
            hints.setdefault(acronym[0], []).append(re.escape(acronym[1:]))
        branches = [
            f"{first}(?:{'|'.join(sorted(rest, key=len, reverse=True))})" for first, rest in sorted(hints.items())
        ]
        self._english_hint = re.compile("(?a)" + "|".join(branches)) if branches else None

    def mentions(self, text: str, *, signature: bool = False) -> list[Mention]:
        """Bodies named in `text` (NFKC-normalised by the caller when it is not ASCII). With `signature`, only
        in signature-like lines (short, no 。), and a Japanese name must not run on into a sentence: 防衛省は…
        is prose about the ministry, 防衛省 防衛政策局 is a signature. Generic English names and acronyms
        ("Ministry of Defense", MOD) count only with "Japan" on the same line."""
        out: list[Mention] = []
        if self._ja_names is not None and not text.isascii():
            pos = 0
            while (m := self._ja_names.search(text, pos)) is not None:
                pos = m.start() + 1
                after = m.end()
                # 環境省エネ…: "省エネ" (energy saving) after a name makes it a company's name
                if text.startswith("エネ", after):
                    continue
                if signature and (_HIRAGANA.match(text, after) or not _signature_like(_line_at(text, m.start()))):
                    continue
                name = m.group(0)
                out.append(Mention(self._ja_body[name], name))
                pos = after
        if self._english_hint is None or self._english_hint.search(text) is None:
            return out
        folded: str | None = None
        # one pass over capitalised words: each is an acronym or the first word of an English name, or neither
        for m in _CAPITALISED.finditer(text):
            word = m.group(0)
            acronym = self._acronyms.get(word)
            if acronym is not None and self._line_ok(text, m.start(), signature=signature, needs_japan=acronym[1]):
                out.append(Mention(acronym[0], word))
                continue
            names = self._english.get(word.casefold())
            if names is None:
                continue
            if folded is None:
                folded = text.casefold()
                if len(folded) != len(text):  # casefold changed lengths (ß → ss): positions no longer line up
                    folded = text.lower()
            for name, body, generic in names:
                end = m.start() + len(name)
                if folded.startswith(name, m.start()) and not (end < len(folded) and folded[end].isalnum()):
                    if self._line_ok(text, m.start(), signature=signature, needs_japan=generic):
                        out.append(Mention(body, text[m.start() : end]))
                    break
        return out

    @staticmethod
    def _line_ok(text: str, at: int, *, signature: bool, needs_japan: bool) -> bool:
        if not (signature or needs_japan):
            return True
        line = _line_at(text, at)
        if signature and not _signature_like(line):
            return False
        return not needs_japan or _JAPAN.search(line) is not None


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)]


def _signature_like(line: str) -> bool:
    return len(line.strip()) <= _SIG_LINE_MAX and "。" not in line


def signature_block(text: str, lines: int = DEFAULT_SIGNATURE_LINES) -> list[str]:
    """The last `lines` non-empty lines of the writer's own text: the quoted original of a reply (">" lines,
    "-----Original Message-----", "On … wrote:", "2024年1月1日 … :", "差出人:") is cut off first; after a
    "-- " delimiter only what follows it."""
    head = text[:_TEXT_SCAN]
    for m in _QUOTE_START.finditer(head):
        if head[: m.start()].strip():
            head = head[: m.start()]
            break
    head = head[-_TAIL_CHARS:]
    delimiter = head.rfind("\n-- \n")
    if delimiter >= 0:
        head = head[delimiter + 5 :]
    # the last lines are usually in the last few hundred characters: read those first (dropping their first
    # line, which may be cut), and the whole tail only when they hold too few
    if len(head) > _SIG_CHUNK:
        found = _signature_lines(head[-_SIG_CHUNK:].splitlines()[1:])
        if len(found) >= lines:
            return found[-lines:]
    return _signature_lines(head.splitlines())[-lines:]


def _signature_lines(raw: list[str]) -> list[str]:
    out = [line.strip() for line in raw]
    return [line for line in out if line and not line.startswith((">", "＞", "|"))]


def _shorten(text: str, limit: int = _EVIDENCE_CHARS) -> str:
    text = escape_controls(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].strip().strip(">").strip() or None


@dataclass(frozen=True)
class AuthClause:
    method: str  # spf, dkim, dmarc …
    result: str
    props: Mapping[str, str]  # "header.d" -> "example.com"


def parse_authentication_results(value: str) -> list[AuthClause]:
    """One Authentication-Results value (RFC 8601) → its method clauses; comments dropped, bounded."""
    text = re.sub(r"\([^()]{0,500}\)", " ", value[:8192])
    out: list[AuthClause] = []
    for clause in text.split(";")[1:50]:  # the first part is the authserv-id
        m = re.match(r"\s*([A-Za-z][\w.-]*)\s*=\s*([A-Za-z]+)", clause)
        if m is None:
            continue
        props = {
            k.lower(): v.strip("<>\"'").lower()
            for k, v in re.findall(r"\b([A-Za-z]+\.[A-Za-z-]+)\s*=\s*(\S+)", clause[m.end() :])
        }
        out.append(AuthClause(m.group(1).lower(), m.group(2).lower(), props))
    return out


class SenderAnalyzer:
    name = "sender"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits = declared_emits(__name__, "SenderAnalyzer")

    def __init__(self) -> None:
        self._tools: DomainTools | None = None
        self._matcher: BodyMatcher | None = None
        self._signature_lines = DEFAULT_SIGNATURE_LINES

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.sender")
        paths: dict[str, str] = {}
        for key, default in (
            ("gov_bodies", DEFAULT_GOV_BODIES),
            ("lg_jp", DEFAULT_LG_JP),
            ("freemail", DEFAULT_FREEMAIL),
            ("brands", DEFAULT_BRANDS),
        ):
            value = options.get(key, default)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"[analyzers.sender] {key} must be a path to a rules file")
            paths[key] = value
        lines = options.get("signature_lines", DEFAULT_SIGNATURE_LINES)
        if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= 100:
            raise ConfigError("[analyzers.sender] signature_lines must be an integer from 1 to 100")
        self._signature_lines = lines
        self._tools = load_domain_tools(
            gov_bodies=config.rules_path(paths["gov_bodies"]),
            lg_jp=config.rules_path(paths["lg_jp"]),
            freemail=config.rules_path(paths["freemail"]),
            brands=config.rules_path(paths["brands"]),
        )
        self._matcher = BodyMatcher(self._tools.bodies)

    @property
    def tools(self) -> DomainTools:
        if self._tools is None:
            raise RuntimeError("SenderAnalyzer.setup() was not called")
        return self._tools

    def analyze(self, target: MessageView, ctx: PluginContext) -> Iterable[Finding]:
        matcher = self._matcher
        if matcher is None:
            raise RuntimeError("SenderAnalyzer.setup() was not called")
        facts = _Facts(self.tools)
        info = target.info
        sender = facts.of(_domain_of(info.from_))
        findings: list[Finding] = []
        results = [self._lookalike(target, facts)]
        if sender is not None:
            text = target.text or target.html_text
            signature = signature_block(text, self._signature_lines)
            results += [
                self._display_name(info.from_display, signature, sender, matcher, facts),
                self._unverified(target, sender, facts),
                self._mismatch(target, sender, facts),
                self._freemail_claim(target, text, signature, sender, matcher),
            ]
        for result in results:
            if result is not None:
                finding_id, strength, evidence = result
                findings.append(
                    Finding(
                        id=finding_id,
                        artifact=target.artifact,
                        analyzer=self.name,
                        strength=round(strength, 3),
                        evidence=tuple(_shorten(e, 300) for e in evidence),
                    )
                )
        return findings

    # -- SENDER_GOV_DISPLAY_NAME -------------------------------------------------------------------------------
    def _display_name(
        self,
        display: str | None,
        signature: Sequence[str],
        sender: HostFacts,
        matcher: BodyMatcher,
        facts: _Facts,
    ) -> tuple[str, float, list[str]] | None:
        from_reg = sender.registrable
        base = 0.5 if sender.gov else 1.0
        claimed: list[tuple[str, float]] = []  # (evidence, factor)
        if display:
            shown_display = _nfkc(display)
            for mention in matcher.mentions(shown_display):
                if from_reg not in mention.body.domains:
                    claimed.append((f'display name "{_shorten(display)}" {_named(mention)}', 1.0))
            for m in _GO_DOMAIN_SHOWN.finditer(shown_display[:1024]):
                shown = facts.of(m.group(1))
                if shown is not None and shown.registrable and shown.registrable != from_reg:
                    claimed.append((f'display name "{_shorten(display)}" shows {shown.registrable}', 1.0))
        if not claimed and signature:
            block = _nfkc("\n".join(signature))
            for mention in matcher.mentions(block, signature=True)[:3]:
                if from_reg not in mention.body.domains:
                    line = _line_at(block, block.find(mention.text))
                    claimed.append((f'signature line "{_shorten(line.strip())}" {_named(mention)}', 0.8))
        if not claimed:
            return None
        evidence = [what for what, _ in claimed[:3]]
        strength = max(base * factor for _, factor in claimed[:3])
        kind = "another government domain" if sender.gov else "not a government domain"
        evidence.append(f"From domain {from_reg or sender.host} is {kind}")
        return "SENDER_GOV_DISPLAY_NAME", strength, evidence

    # -- SENDER_GOV_LOOKALIKE ----------------------------------------------------------------------------------
    def _lookalike(self, target: MessageView, facts: _Facts) -> tuple[str, float, list[str]] | None:
        info = target.info
        candidates: list[tuple[str, str | None, float]] = [("From", info.from_, 1.0)]
        candidates += [("Reply-To", r, 0.8) for r in info.reply_to[:10]]
        candidates += [("Return-Path", info.return_path, 0.8), ("Sender", info.sender, 0.8)]
        if target.envelope is not None:
            candidates.append(("MAIL FROM", target.envelope.mail_from, 1.0))
        seen: set[str] = set()
        evidence: list[str] = []
        strength = 0.0
        for header, address, weight in candidates:
            host = facts.of(_domain_of(address))
            if host is None or host.host in seen or host.gov or host.freemail:
                continue
            seen.add(host.host)
            found = self.tools.lookalike_of(host, GOV_KINDS)
            if found is not None:
                evidence.append(f"{header} domain {found.describe()}")
                strength = max(strength, weight)
        if not evidence:
            return None
        return "SENDER_GOV_LOOKALIKE", strength, evidence

    # -- SENDER_GOV_UNVERIFIED ---------------------------------------------------------------------------------
    def _unverified(self, target: MessageView, sender: HostFacts, facts: _Facts) -> tuple[str, float, list[str]] | None:
        from_reg = sender.registrable
        if from_reg is None or not sender.gov:
            return None
        info = target.info
        auth = info.authentication
        clauses: list[AuthClause] = []
        for name, value in target.headers:
            if name.lower() == "authentication-results":
                clauses = parse_authentication_results(value)
                break
        results = {"spf": auth.spf, "dkim": auth.dkim, "dmarc": auth.dmarc}
        # a pass counts only for the From domain (or when the header does not say for which domain)
        for clause in clauses:
            if clause.method in ("dkim", "spf") and clause.result == "pass":
                if clause.method == "dkim":
                    signer = clause.props.get("header.d") or clause.props.get("header.i") or ""
                else:
                    signer = clause.props.get("smtp.mailfrom") or clause.props.get("smtp.helo") or ""
                signer = signer.rsplit("@", 1)[-1]
                signed = facts.of(signer)
                if not signer or (signed is not None and signed.registrable == from_reg):
                    return None
                results[clause.method] = f"pass for {signer}, not {from_reg}"
        for method in ("dkim", "spf"):
            if results[method] == "pass" and not any(c.method == method for c in clauses):
                return None  # Received-SPF or a summary without domains: take the pass at its word
        present = {k: v for k, v in results.items() if v}
        if present:
            said = ", ".join(f"{k}={v}" for k, v in present.items())
            if results["dmarc"] == "fail":
                return "SENDER_GOV_UNVERIFIED", 1.0, [f"From {from_reg}: DMARC fail ({said})"]
            if all(v in _FAILING or v.startswith("pass for ") for v in present.values()):
                return "SENDER_GOV_UNVERIFIED", 1.0, [f"From {from_reg}: authentication does not support it ({said})"]
            if any(v == "pass" for v in present.values()):
                return None
        hops = info.received
        recipients_here = any(
            (r := facts.of(_domain_of(address))) is not None and r.registrable == from_reg for address in info.to
        )
        if hops and not recipients_here and not any(_hop_in(h.from_, from_reg) for h in hops):
            return (
                "SENDER_GOV_UNVERIFIED",
                0.5,
                [f"From {from_reg}: none of the {len(hops)} Received hop(s) came from {from_reg}"],
            )
        return None

    # -- SENDER_REPLY_MISMATCH ---------------------------------------------------------------------------------
    def _mismatch(self, target: MessageView, sender: HostFacts, facts: _Facts) -> tuple[str, float, list[str]] | None:
        from_reg = sender.registrable
        if from_reg is None:
            return None
        tools = self.tools
        info = target.info
        listish = False
        list_names: list[str] = []
        lengths = _LIST_HEADER_LENGTHS  # a cheap test before lower-casing every header name
        for name, value in [h for h in target.headers if len(h[0]) in lengths]:
            key = name.lower()
            if key in _LIST_HEADERS:
                listish = True
                if key in ("list-id", "list-post", "x-mailing-list", "mailing-list"):
                    list_names.append(value[:1024])
            elif key == "precedence" and value.strip().lower() in ("list", "bulk", "junk"):
                listish = True
        if info.sender and _LIST_LOCAL.search(info.sender.rsplit("@", 1)[0]):
            listish = True
        # a list's own domains: the list id and post address, the Sender and Return-Path it rewrote (only the
        # Reply-To is compared with them)
        list_regs: set[str] = set()
        if listish and info.reply_to:
            for value in list_names:
                for m in _DOMAINISH.finditer(value):
                    found = facts.of(m.group(0))
                    if found is not None and found.registrable:
                        list_regs.add(found.registrable)
            for address in (info.sender, info.return_path):
                found = facts.of(_domain_of(address))
                if found is not None and found.registrable:
                    list_regs.add(found.registrable)
        from_brand = tools.brand_of(from_reg)
        candidates: list[tuple[str, str | None]] = [("Reply-To", r) for r in info.reply_to[:10]]
        if not listish:
            candidates += [("Sender", info.sender), ("Return-Path", info.return_path)]
        evidence: list[str] = []
        strength = 0.0
        for header, address in candidates:
            other = facts.of(_domain_of(address))
            if address is None or other is None:
                continue
            reg = other.registrable
            if reg is None or reg == from_reg or reg in list_regs:
                continue
            if from_brand is not None and tools.brand_of(reg) is from_brand:
                continue
            if header != "Reply-To" and _BOUNCE_LOCAL.search(address.rsplit("@", 1)[0]):
                continue
            to_free = other.freemail and not sender.freemail
            if header == "Return-Path" and not to_free:
                continue  # forwarding, web servers and bulk senders rewrite it: only free mail there says much
            strength = max(strength, 1.0 if to_free else 0.5)
            label = " (free mail)" if other.freemail else ""
            evidence.append(f"{header} {_shorten(address)}{label} is not in the From domain {from_reg}")
        if not evidence:
            return None
        return "SENDER_REPLY_MISMATCH", strength, evidence

    # -- SENDER_FREEMAIL_ORG_CLAIM -----------------------------------------------------------------------------
    def _freemail_claim(
        self,
        target: MessageView,
        text: str,
        signature: Sequence[str],
        sender: HostFacts,
        matcher: BodyMatcher,
    ) -> tuple[str, float, list[str]] | None:
        if not sender.freemail:
            return None
        evidence: list[str] = []
        subject = target.info.subject or ""
        for source, value in (("subject", subject), ("body", text[:_TEXT_SCAN])):
            value = _nfkc(value)
            m = _EXCUSE.search(value)
            if m is not None:
                start = max(0, m.start() - 15)
                evidence.append(f'{source} says "{_shorten(value[start : m.end() + 15].strip(), 60)}"')
                break
        excuse = bool(evidence)
        claim = _org_claim(target.info.from_display, signature, matcher)
        if claim is not None:
            evidence.append(claim)
        if not evidence:
            return None
        evidence.append(f"From {sender.host} is a free-mail provider")
        return "SENDER_FREEMAIL_ORG_CLAIM", 1.0 if excuse else 0.6, evidence


class _Facts:
    """Host facts memoised for one analyze call: the same few domains are asked about many times."""

    def __init__(self, tools: DomainTools) -> None:
        self._tools = tools
        self._memo: dict[str, HostFacts | None] = {}

    def of(self, host: str | None) -> HostFacts | None:
        if not host:
            return None
        if host not in self._memo:
            if len(self._memo) > 256:  # hostile header lists: stop remembering, keep answering
                return self._tools.facts(host)
            self._memo[host] = self._tools.facts(host)
        return self._memo[host]


def _nfkc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _named(mention: Mention) -> str:
    return f"names {mention.text} ({', '.join(mention.body.domains)})"


def _hop_in(hop_from: str | None, reg: str) -> bool:
    if not hop_from:
        return False
    text = hop_from.lower()
    return any(
        token == reg or token.endswith("." + reg) for token in re.findall(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", text[:1024])
    )


def _org_claim(display: str | None, signature: Sequence[str], matcher: BodyMatcher) -> str | None:
    """The first line that claims an organisation: a government body, an organisation with a department, or an
    English company or ministry form."""
    lines = [("display name", display)] if display else []
    lines += [("signature line", line) for line in signature]
    for k, (where, raw) in enumerate(lines):
        if raw is None:
            continue
        line = unicodedata.normalize("NFKC", raw)
        if len(line) > _SIG_LINE_MAX or "。" in line:
            continue
        if matcher.mentions(line, signature=where != "display name"):
            return f'{where} "{_shorten(raw)}" names a government body'
        if _ORG_EN.search(line):
            return f'{where} "{_shorten(raw)}" names an organisation'
        if _ORG_WORD.search(line):
            neighbours = [line] + [
                unicodedata.normalize("NFKC", lines[j][1] or "")
                for j in (k - 1, k + 1)
                if 0 <= j < len(lines) and lines[j][0] == where
            ]
            if any(_UNIT_WORD.search(n) for n in neighbours):
                return f'{where} "{_shorten(raw)}" names an organisation and a department'
    return None

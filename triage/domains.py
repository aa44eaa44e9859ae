"""Domain facts shared by the sender and link analyzers: registrable domains, government and free-mail domains,
and lookalikes of protected (government and brand) domains.

- `registrable(host)`: the domain a registrant controls, from the public suffix list (`publicsuffixlist`, which
  ships its own copy: no network). Two Japanese rules on top: go.jp is a suffix (the PSL says so too), so
  `www.mod.go.jp` → `mod.go.jp`; LG.JP names are `<type>.<name>.lg.jp` (JPRS), so `www.pref.osaka.lg.jp` →
  `pref.osaka.lg.jp`, where the PSL alone would say `osaka.lg.jp` and lump the prefecture with the city.
- `is_gov(host)`: any *.go.jp or *.lg.jp. Both spaces are restricted by JPRS to government bodies, so a host
  there is genuine; what we check is whether the mail really came from it (the sender analyzer's job).
- `lookalike(host, kinds)`: does the host imitate a protected domain? Techniques, most specific first:
  `go.jp.<other>` (mod.go.jp.example.com), `go-jp`/`gojp`/`gov.jp`/`lg-jp` tokens, `pref-<name>` for
  prefectures, homoglyphs (IDN/punycode, mixed scripts, rn→m, vv→w, cl→d, 0→o, 1→l: compared on a canonical
  ASCII skeleton), a protected label reused under another suffix (mofa.co.jp) or as one hyphen part of another
  label (amazon-secure.com), a Japanese body name as an IDN label (防衛省.com), and one edit away from a long,
  distinctive label (kunalcho.jp). The answer is a `Lookalike` that says which protected domain and how.

Cost: every index is built once (`DomainTools.build`); a lookup is a few dict/set probes plus, for the typo
check, one probe per deletion of the skeleton (symmetric-delete index) verified with rapidfuzz. `facts` and
`lookalike_of` remember their answers (bounded): mail brings the same hosts again and again. Every function
is total: any string in, an answer or None out.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import idna
from publicsuffixlist import PublicSuffixList

from triage.errors import ConfigError
from triage.rulefiles import read_toml

__all__ = [
    "Brand",
    "DomainTools",
    "GovBody",
    "HostFacts",
    "Lookalike",
    "Prefecture",
    "clean_host",
    "load_brands",
    "load_domain_list",
    "load_gov_bodies",
    "load_prefectures",
    "skeleton",
    "unicode_label",
]

MAX_HOST = 253
MAX_LABEL = 63
_MAX_LABELS = 16  # hosts with more labels are checked on their last ones only
_MAX_TOKENS = 8
# labels of 1-63 characters joined by single dots; each label ends at a dot, so matching never backtracks
_HOST = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_IPV4ISH = re.compile(r"[0-9.]+")
# full-width and ideographic full stops a browser treats as dots (IDNA UTS #46)
_DOTS = str.maketrans({"。": ".", "．": ".", "｡": "."})
# one character looks like another: both directions fold to one canonical form
_CHAR_FOLDS = str.maketrans({"0": "o", "1": "l", "|": "l"})
_PAIR_FOLDS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
# go.jp / lg.jp spelled inside another domain: mod-go-jp.com, gojp-mod.net, mofa.gov.jp, meti-go.jp
_GOV_TOKEN = re.compile(r"(?:^|[._-])((?:go|gov|lg)[._-]?jp)(?=[._-]|$)")
_GOV_HINTS = frozenset({"go", "gov", "jp", "gojp", "govjp"})
ALL_KINDS = frozenset({"gov", "brand"})
_MIN_TOKEN_LABEL = 4  # a protected label shorter than this is too common to count as one part of another label
_MEMO_SIZE = 8192  # hosts whose facts and lookalike answers are remembered across calls
_MEMO_KEY = 2 * MAX_HOST  # a longer "host" is not remembered


class _Missing:
    """Not remembered (None is an answer)."""


_MISSING = _Missing()
_MIN_TYPO_SKELETON = 5  # one edit from a four-letter label is another word: meti/meta, mext/next


# -- data ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GovBody:
    """A central-government body: its go.jp registrable domains and the names people write for it."""

    name: str
    domains: tuple[str, ...]
    ja: tuple[str, ...] = ()
    en: tuple[str, ...] = ()
    en_generic: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    acronyms_generic: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prefecture:
    ja: str
    romaji: str
    domain: str


@dataclass(frozen=True)
class Brand:
    name: str
    domains: tuple[str, ...]
    labels: tuple[str, ...] = ()
    typo_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class GovData:
    """rules/lists/gov_bodies.toml, validated."""

    bodies: tuple[GovBody, ...]
    generic_labels: frozenset[str] = frozenset()
    typo_labels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HostFacts:
    """What the lists say about one host, computed once."""

    host: str  # cleaned: lower-case ASCII
    registrable: str | None
    gov: bool  # *.go.jp or *.lg.jp
    freemail: bool


@dataclass(frozen=True)
class Lookalike:
    """Why `domain` imitates `imitates`: `technique` in a few words, `kind` "gov" or "brand"."""

    domain: str
    imitates: str
    technique: str
    kind: str

    def describe(self) -> str:
        return f"{self.domain} imitates {self.imitates} ({self.technique})"


@dataclass(frozen=True)
class _Protected:
    label: str  # as registered: "mofa", "amazon", "e-gov"
    skeleton: str
    domain: str  # what a lookalike imitates: "mofa.go.jp", "amazon.co.jp"
    kind: str
    exact: bool  # reuse of the label under another suffix counts
    token: bool  # the label as one hyphen part of another label counts
    typo: bool  # one edit away counts


# -- hosts -----------------------------------------------------------------------------------------------------
def clean_host(value: str) -> str | None:
    """A host as lower-case ASCII (IDN labels in punycode), or None when it is not a plausible host name."""
    if not value or len(value) > 4 * MAX_HOST:
        return None
    text = value.strip().rstrip(".")
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_DOTS).rstrip(".")
    text = text.lower()
    if not text.isascii():
        encoded = _to_ascii(text)
        if encoded is None:
            return None
        text = encoded
    if len(text) > MAX_HOST or not _HOST.fullmatch(text):
        return None
    return text


def _to_ascii(text: str) -> str | None:
    out: list[str] = []
    for label in text.split("."):
        if label.isascii():
            out.append(label)
            continue
        try:
            out.append(idna.encode(label, uts46=True).decode("ascii"))
        except (idna.IDNAError, UnicodeError, ValueError):
            # not valid IDNA (emoji, mixed bidi…): still a name a mail client shows; keep its raw punycode
            try:
                out.append("xn--" + label.encode("punycode").decode("ascii"))
            except UnicodeError:
                return None
    return ".".join(out)


def unicode_label(label: str) -> str:
    """An `xn--` label decoded to what a reader sees; any other label as it is."""
    if not label.startswith("xn--"):
        return label
    try:
        decoded = idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return label
    return decoded or label


def _confusable_ascii(ch: str) -> str | None:
    """The ASCII letters a non-ASCII character is confusable with (Unicode's confusables data), or None."""
    # imported here: the library reads its tables at import time, and only IDN labels need it
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(ch, greedy=True, preferred_aliases=[])
    for entry in found or ():
        for glyph in entry.get("homoglyphs", ()):
            text = str(glyph.get("c", "")).lower()
            if text and text.isascii() and text.isalnum():
                return text
    stripped = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)).lower()
    return stripped if stripped and stripped.isascii() and stripped.isalnum() else None


def skeleton(label: str) -> str:
    """A canonical form that two labels share when they look alike: NFKC, confusables mapped to ASCII, lower
    case, then 0→o, 1→l, rn→m, vv→w, cl→d (both spellings of each pair fold to one)."""
    text = unicodedata.normalize("NFKC", label).lower()
    if not text.isascii():
        text = "".join(ch if ch.isascii() else (_confusable_ascii(ch) or ch) for ch in text).lower()
    text = text.translate(_CHAR_FOLDS)
    for pair, single in _PAIR_FOLDS:
        text = text.replace(pair, single)
    return text


def _is_mixed_script(text: str) -> bool:
    from confusable_homoglyphs import confusables

    try:
        return bool(confusables.is_mixed_script(text))
    except Exception:  # the library's category lookup on odd code points; a fact we can do without
        return False


def _levenshtein(a: str, b: str) -> int:
    # imported on first use: only hosts that reach the typo index need it, and start-up counts for one-off scans
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b, score_cutoff=1))


# -- the tools -------------------------------------------------------------------------------------------------
@functools.cache
def shared_public_suffix_list() -> SuffixList:
    """One parsed public suffix list per process: read-only, so every analyzer shares it."""
    from publicsuffixlist import PSLFILE

    with open(PSLFILE, encoding="utf-8") as handle:
        return SuffixList(handle.read())


class SuffixList:
    """The public suffix list, built for start-up time.

    The library's default build runs all ~10 000 rules through Python's `idna` codec to add punycode forms and
    parses them all (~70 ms: most of a one-off scan's sender check). A host's registrable domain depends only on the
    rules that end in its top-level label, so the rules are grouped by that label and a group is parsed the first
    time a host under it is asked about. Punycode forms are made only for a host with an `xn--` label, and only of
    its group's non-ASCII rules (their labels are already in the list's normalised lower case, so punycode alone
    gives the codec's result). tests/test_registry.py compares every rule's answer with the library's default build.
    """

    def __init__(self, text: str) -> None:
        # Even grouping all ~10 000 rules up front costs ~20 ms; a group is gathered when first asked for instead.
        self._lines = text.lower().splitlines()
        self._groups: dict[str, list[str]] = {}
        self._parsed: dict[tuple[str, bool], PublicSuffixList] = {}

    def _rules(self, top: str) -> list[str]:
        """The rules whose last label is `top` ("jp", "*.jp"... "city.kawasaki.jp"), in file order."""
        rules = self._groups.get(top)
        if rules is None:
            rules = []
            suffix = "." + top
            for line in self._lines:
                if top not in line or line.startswith("//"):
                    continue
                rule = line.split(" ", 1)[0].strip()
                if rule.removeprefix("!") == top or rule.endswith(suffix):
                    rules.append(rule)
            self._groups[top] = rules
        return rules

    def privatesuffix(self, domain: str) -> str | None:
        """The registrable domain (public suffix plus one label), or None."""
        host = domain.lower().rstrip(".")
        found: str | None = self._group(host.rpartition(".")[2], "xn--" in host).privatesuffix(domain)
        return found

    def _group(self, top: str, idn: bool) -> PublicSuffixList:
        key = (top, idn)
        psl = self._parsed.get(key)
        if psl is None:
            rules = list(self._rules(top)) if top else []
            if top.startswith("xn--"):
                try:
                    rules = list(self._rules(top[4:].encode("ascii").decode("punycode")))
                except (UnicodeError, ValueError):
                    rules = []
            if idn or top.startswith("xn--"):
                rules += _punycode_rules(rules)
            psl = PublicSuffixList(rules, accept_unknown=False, accept_encoded_idn=False)
            self._parsed[key] = psl
        return psl


def _punycode_rules(lines: Iterable[str]) -> list[str]:
    """The punycode form of each non-ASCII rule of a public suffix list file."""
    rules: list[str] = []
    for line in lines:
        if line.isascii():
            continue
        rule = line.split(" ", 1)[0].strip().lower()
        if not rule or rule.startswith("//"):
            continue
        bang = "!" if rule.startswith("!") else ""
        rules.append(bang + ".".join(_punycode_label(label) for label in rule.removeprefix("!").split(".")))
    return rules


def _punycode_label(label: str) -> str:
    return label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")


@dataclass(frozen=True)
class DomainTools:
    """Everything loaded and indexed once; read-only afterwards, so one instance serves every scan."""

    psl: SuffixList
    bodies: tuple[GovBody, ...]
    prefectures: tuple[Prefecture, ...]
    brands: tuple[Brand, ...]
    freemail: frozenset[str]
    freemail_names: frozenset[str]  # "gmx" for the "gmx.*" entries
    lg_types: frozenset[str]
    body_by_domain: Mapping[str, GovBody]
    brand_by_domain: Mapping[str, Brand]
    prefecture_by_romaji: Mapping[str, Prefecture]
    _protected_domains: frozenset[str]
    _by_label: Mapping[str, tuple[_Protected, ...]]
    _by_skeleton: Mapping[str, tuple[_Protected, ...]]
    _typo_index: Mapping[str, tuple[_Protected, ...]]
    _ja_names: Mapping[str, str] = field(default_factory=dict)
    _glued_gov: re.Pattern[str] | None = None  # modgojp, mofagov: a ministry label glued to go/gov/jp
    _typo_lengths: frozenset[int] | None = None  # skeleton lengths that can reach `_typo_index` (None: any)
    # answers already given (the same hosts come back message after message); bounded, cleared when full
    _facts_memo: dict[str, HostFacts | None] = field(default_factory=dict, compare=False, repr=False)
    _lookalike_memo: dict[tuple[str, str | None, frozenset[str]], Lookalike | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(
        cls,
        *,
        gov: GovData,
        prefectures: Sequence[Prefecture] = (),
        lg_types: Iterable[str] = ("metro", "pref", "city", "town", "vill", "union"),
        brands: Sequence[Brand] = (),
        freemail: Iterable[str] = (),
    ) -> DomainTools:
        exact_free, named_free = _split_freemail(freemail)
        protected: list[_Protected] = []
        body_by_domain: dict[str, GovBody] = {}
        ja_names: dict[str, str] = {}
        for body in gov.bodies:
            for domain in body.domains:
                body_by_domain[domain] = body
                label = domain[: -len(".go.jp")]
                generic = label in gov.generic_labels
                protected.append(
                    _Protected(
                        label=label,
                        skeleton=skeleton(label),
                        domain=domain,
                        kind="gov",
                        exact=not generic and len(label) >= _MIN_TOKEN_LABEL,
                        token=not generic and len(label) >= _MIN_TOKEN_LABEL,
                        typo=label in gov.typo_labels,
                    )
                )
            for name in body.ja:
                ja_names.setdefault(name, body.domains[0])
        brand_by_domain: dict[str, Brand] = {}
        for brand in brands:
            for domain in brand.domains:
                brand_by_domain[domain] = brand
            for label in brand.labels:
                protected.append(
                    _Protected(
                        label=label,
                        skeleton=skeleton(label),
                        domain=brand.domains[0],
                        kind="brand",
                        exact=False,  # brands own many ccTLDs we cannot list: amazon.de is Amazon's
                        token=len(label) >= _MIN_TOKEN_LABEL,
                        typo=label in brand.typo_labels,
                    )
                )
        by_label: dict[str, list[_Protected]] = {}
        by_skeleton: dict[str, list[_Protected]] = {}
        typo: dict[str, list[_Protected]] = {}
        for p in protected:
            by_label.setdefault(p.label, []).append(p)
            by_skeleton.setdefault(p.skeleton, []).append(p)
            if p.typo and len(p.skeleton) >= _MIN_TYPO_SKELETON:
                for key in _deletions(p.skeleton):
                    typo.setdefault(key, []).append(p)
        return cls(
            psl=shared_public_suffix_list(),
            bodies=tuple(gov.bodies),
            prefectures=tuple(prefectures),
            brands=tuple(brands),
            freemail=frozenset(exact_free),
            freemail_names=frozenset(named_free),
            lg_types=frozenset(lg_types),
            body_by_domain=MappingProxyType(body_by_domain),
            brand_by_domain=MappingProxyType(brand_by_domain),
            prefecture_by_romaji=MappingProxyType({p.romaji: p for p in prefectures}),
            _protected_domains=frozenset(body_by_domain) | frozenset(brand_by_domain),
            _by_label=MappingProxyType({k: tuple(v) for k, v in by_label.items()}),
            _by_skeleton=MappingProxyType({k: tuple(v) for k, v in by_skeleton.items()}),
            _typo_index=MappingProxyType({k: tuple(v) for k, v in typo.items()}),
            _ja_names=MappingProxyType(ja_names),
            _glued_gov=_glued_pattern(sorted({p.label for p in protected if p.kind == "gov"})),
            # a skeleton's keys are itself and its deletions: it can reach a key of its length or one shorter
            _typo_lengths=frozenset(n for key in typo for n in (len(key), len(key) + 1)),
        )

    # -- facts about one host ----------------------------------------------------------------------------------
    def registrable(self, host: str) -> str | None:
        """The registrable domain of a host (cleaned first), or None for IPs, bare suffixes and unknown TLDs."""
        h = clean_host(host)
        return self._registrable(h) if h is not None else None

    def _registrable(self, h: str) -> str | None:
        if _IPV4ISH.fullmatch(h):
            return None
        if h.endswith(".lg.jp"):
            labels = h.split(".")
            # <type>.<name>.lg.jp; a bare <name>.lg.jp (service names) stands on its own
            return ".".join(labels[-4:]) if len(labels) >= 4 else h
        try:
            return self.psl.privatesuffix(h)
        except Exception:  # the library on a name it was not built for; no registrable domain then
            return None

    def facts(self, host: str) -> HostFacts | None:
        """Registrable domain, government and free-mail status of a host; None when it is no host name."""
        memo = self._facts_memo
        found: HostFacts | _Missing | None = memo.get(host, _MISSING)
        if not isinstance(found, _Missing):
            return found
        h = clean_host(host)
        if h is None:
            found = None
        else:
            reg = self._registrable(h)
            found = HostFacts(host=h, registrable=reg, gov=_is_gov(h), freemail=self._freemail(h, reg))
        if len(host) <= _MEMO_KEY:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[host] = found
        return found

    def is_gov(self, host: str) -> bool:
        h = clean_host(host)
        return h is not None and _is_gov(h)

    def gov_body(self, host: str) -> GovBody | None:
        reg = self.registrable(host)
        return self.body_by_domain.get(reg) if reg else None

    def is_freemail(self, host: str) -> bool:
        h = clean_host(host)
        if h is None:
            return False
        return self._freemail(h, self._registrable(h))

    def _freemail(self, h: str, reg: str | None) -> bool:
        if h in self.freemail:
            return True
        if reg is None:
            return False
        if reg in self.freemail:
            return True
        return bool(self.freemail_names) and reg.split(".", 1)[0] in self.freemail_names

    def brand_of(self, registrable: str) -> Brand | None:
        return self.brand_by_domain.get(registrable)

    # -- lookalikes --------------------------------------------------------------------------------------------
    def lookalike(self, host: str, kinds: frozenset[str] = ALL_KINDS) -> Lookalike | None:
        """How `host` imitates a protected domain of one of `kinds`, or None."""
        h = clean_host(host)
        if h is None or _is_gov(h) or _IPV4ISH.fullmatch(h):
            return None
        return self._lookalike(h, self._registrable(h), kinds)

    def lookalike_of(self, facts: HostFacts, kinds: frozenset[str] = ALL_KINDS) -> Lookalike | None:
        """`lookalike` for a host whose facts are already known (saves cleaning it and the suffix lookup)."""
        if facts.gov or _IPV4ISH.fullmatch(facts.host):
            return None
        key = (facts.host, facts.registrable, kinds)
        memo = self._lookalike_memo
        known: Lookalike | _Missing | None = memo.get(key, _MISSING)
        if not isinstance(known, _Missing):
            return known
        found = self._lookalike(facts.host, facts.registrable, kinds)
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = found
        return found

    def _lookalike(self, h: str, reg: str | None, kinds: frozenset[str]) -> Lookalike | None:
        if reg is not None and reg in self._protected_domains:
            return None
        labels = h.split(".")[-_MAX_LABELS:]
        found = self._prefix_trick(labels, kinds)
        if found is None and "gov" in kinds:
            found = self._gov_tokens(h, labels, reg)
        if found is None and reg is not None:
            found = self._label_tricks(labels, reg, kinds)
        if found is None:
            return None
        shown = ".".join(unicode_label(label) for label in labels)
        imitates, technique, kind = found
        return Lookalike(domain=shown, imitates=imitates, technique=technique, kind=kind)

    def _prefix_trick(self, labels: list[str], kinds: frozenset[str]) -> tuple[str, str, str] | None:
        """A protected domain followed by more labels: mod.go.jp.example.com, amazon.co.jp.example.net."""
        n = len(labels)
        for k in range(n - 2):
            if labels[k] in ("go", "lg") and labels[k + 1] == "jp" and "gov" in kinds:
                start = max(0, k - (2 if labels[k] == "lg" else 1))
                return ".".join(labels[start : k + 2]), f"{labels[k]}.jp.<other>", "gov"
        for i in range(n - 2):
            for j in (i + 2, i + 3):  # every protected domain has two or three labels
                if j >= n:
                    break
                candidate = ".".join(labels[i:j])
                if candidate in self._protected_domains:
                    kind = "gov" if candidate in self.body_by_domain else "brand"
                    if kind in kinds:
                        return candidate, f"{candidate}.<other>", kind
        return None

    def _gov_tokens(self, h: str, labels: list[str], reg: str | None) -> tuple[str, str, str] | None:
        m = _GOV_TOKEN.search(h)
        if m is not None:
            spelled = m.group(1)
            if "." in spelled:  # "-go.jp", ".gov.jp": the separator before it is part of the trick
                spelled = h[m.start() : m.end()]
            tokens = [t for label in labels for t in label.split("-") if t][: _MAX_TOKENS * 2]
            return self._gov_named(tokens, "lg.jp" if "lg" in spelled else "go.jp"), spelled, "gov"
        glued = self._glued_gov.search(h) if self._glued_gov is not None else None
        if glued is not None:
            head = glued.group(1)
            return self._gov_named([head], "go.jp"), f"{head}+{glued.group(2)}", "gov"
        if reg is None:
            return None
        # pref.osaka.example.com (pref.osaka.jp and pref.osaka.lg.jp are the genuine forms)
        for i in range(len(labels) - 1):
            if labels[i] in self.lg_types and labels[i + 1] in self.prefecture_by_romaji:
                rest = labels[i + 2 :]
                if rest not in (["lg", "jp"], ["jp"]):
                    return f"{labels[i]}.{labels[i + 1]}.lg.jp", f"{labels[i]}.{labels[i + 1]}.<other>", "gov"
        first = reg.split(".", 1)[0]
        if "-" not in first:
            return None
        parts = [t for t in first.split("-") if t][:_MAX_TOKENS]
        # pref-osaka.com, metro-tokyo.net
        types_here = self.lg_types.intersection(parts)
        names = [t for t in parts if t in self.prefecture_by_romaji]
        if types_here and names:
            type_label = sorted(types_here)[0]
            return f"{type_label}.{names[0]}.lg.jp", f"{type_label}-{names[0]}", "gov"
        # a ministry label with a go/gov/jp hint: meti-jp.com, gov-mofa.net
        hints = _GOV_HINTS.intersection(parts)
        if hints:
            named = [t for t in parts if any(p.kind == "gov" and p.token for p in self._by_label.get(t, ()))]
            if named:
                return self._gov_named(named, "go.jp"), f"{named[0]} with {'/'.join(sorted(hints))}", "gov"
        return None

    def _gov_named(self, tokens: Sequence[str], default: str) -> str:
        for token in tokens:
            for p in self._by_label.get(token, ()):
                if p.kind == "gov":
                    return p.domain
        return default

    def _label_tricks(self, labels: list[str], reg: str, kinds: frozenset[str]) -> tuple[str, str, str] | None:
        reg_labels = reg.split(".")
        suffix = ".".join(reg_labels[1:])
        raw = reg_labels[0]
        label = unicode_label(raw)
        if not label:
            return None
        is_idn = raw.startswith("xn--")
        name_domain = self._ja_names.get(unicodedata.normalize("NFKC", label))
        if name_domain is not None and "gov" in kinds:
            return name_domain, f"body name {label} as a domain", "gov"
        skel = skeleton(label)
        for p in self._by_skeleton.get(skel, ()):
            if p.kind not in kinds:
                continue
            if label != p.label:
                return p.domain, _homoglyph_technique(label, p.label, is_idn), p.kind
            if p.exact:
                return p.domain, f"{p.label} under .{suffix}", p.kind
        tokens = [t for t in label.split("-") if t][:_MAX_TOKENS]
        if len(tokens) > 1:
            for token in tokens:
                tskel = skeleton(token)
                for p in self._by_skeleton.get(tskel, ()):
                    if p.kind not in kinds:
                        continue
                    if token != p.label and len(tskel) >= 3:
                        return p.domain, _homoglyph_technique(token, p.label, is_idn), p.kind
                    if p.token:
                        return p.domain, f"{p.label} inside {label}", p.kind
        typo = self._typo(skel, kinds)
        if typo is None and len(tokens) > 1:
            for token in tokens:
                typo = self._typo(skeleton(token), kinds)
                if typo is not None:
                    break
        if typo is not None:
            return typo.domain, f"one character from {typo.label}", typo.kind
        return None

    def _typo(self, skel: str, kinds: frozenset[str]) -> _Protected | None:
        if len(skel) < _MIN_TYPO_SKELETON or len(skel) > MAX_LABEL:
            return None
        if self._typo_lengths is not None and len(skel) not in self._typo_lengths:
            return None
        seen: set[str] = set()
        for key in _deletions(skel):
            for p in self._typo_index.get(key, ()):
                if p.kind in kinds and p.skeleton not in seen:
                    seen.add(p.skeleton)
                    if p.skeleton != skel and _levenshtein(skel, p.skeleton) <= 1:
                        return p
        return None


def _split_freemail(entries: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Free-mail list entries → (exact domains, names of the "name.*" entries)."""
    exact: set[str] = set()
    named: set[str] = set()
    for entry in entries:
        if entry.endswith(".*"):
            named.add(entry[:-2])
        else:
            exact.add(entry)
    return frozenset(exact), frozenset(named)


def _glued_pattern(labels: Sequence[str]) -> re.Pattern[str] | None:
    if not labels:
        return None
    names = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(r"(?:^|[._-])(" + names + r")(gojp|govjp|lgjp|gov)(?=[._-]|$)")


def _deletions(text: str) -> Iterable[str]:
    """The text and every string one deletion away from it (the symmetric-delete index keys)."""
    yield text
    for i in range(len(text)):
        yield text[:i] + text[i + 1 :]


def _is_gov(h: str) -> bool:
    return h in ("go.jp", "lg.jp") or h.endswith((".go.jp", ".lg.jp"))


def _homoglyph_technique(label: str, target: str, is_idn: bool) -> str:
    if not label.isascii():
        how = "punycode homoglyph" if is_idn else "homoglyph"
        if _is_mixed_script(label):
            how += ", mixed scripts"
        return f"{how}: {label} reads as {target}"
    return f"lookalike characters: {label} reads as {target}"


# -- loading ---------------------------------------------------------------------------------------------------
def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _domain(value: str, where: str) -> str:
    host = clean_host(value)
    if host is None or host != value or "." not in host:
        raise ConfigError(f"{where}: {value!r} is not a lower-case domain name")
    return host


def _tables(doc: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: needs at least one [[{key}]] table")
    return value


def load_gov_bodies(path: Path) -> GovData:
    doc = read_toml(path)
    origin = str(path)
    unknown = sorted(set(doc) - {"body", "generic_labels", "typo_labels"})
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}")
    fields = ("domains", "ja", "en", "en_generic", "acronyms", "acronyms_generic")
    bodies: list[GovBody] = []
    for k, table in enumerate(_tables(doc, "body", origin)):
        where = f"{origin}: body[{k}]"
        if set(table) != set(fields):
            raise ConfigError(f"{where}: needs exactly the keys {', '.join(fields)}")
        values = {f: _strings(table[f], f"{where}.{f}") for f in fields}
        if not values["domains"] or not values["ja"]:
            raise ConfigError(f"{where}: needs at least one domain and one Japanese name")
        for domain in values["domains"]:
            if not _domain(domain, where).endswith(".go.jp") or domain.count(".") != 2:
                raise ConfigError(f"{where}: {domain!r} is not a registrable go.jp domain")
        for acronym in values["acronyms"] + values["acronyms_generic"]:
            if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", acronym):
                raise ConfigError(f"{where}: acronym {acronym!r} must be 2-10 upper-case letters or digits")
        bodies.append(GovBody(name=values["ja"][0], **values))
    labels = {d[: -len(".go.jp")] for b in bodies for d in b.domains}
    generic = frozenset(_strings(doc.get("generic_labels", []), f"{origin}: generic_labels"))
    typo = frozenset(_strings(doc.get("typo_labels", []), f"{origin}: typo_labels"))
    stray = sorted((generic | typo) - labels)
    if stray:
        raise ConfigError(f"{origin}: generic/typo labels that are no body's domain: {', '.join(stray)}")
    seen: dict[str, int] = {}
    for k, body in enumerate(bodies):
        for domain in body.domains:
            if domain in seen:
                raise ConfigError(f"{origin}: {domain} belongs to body[{seen[domain]}] and body[{k}]")
            seen[domain] = k
    return GovData(bodies=tuple(bodies), generic_labels=generic, typo_labels=typo)


def load_prefectures(path: Path) -> tuple[tuple[Prefecture, ...], frozenset[str]]:
    """rules/lists/lg_jp.toml → (prefectures, LG.JP type labels)."""
    doc = read_toml(path)
    origin = str(path)
    unknown = sorted(set(doc) - {"prefecture", "types"})
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}")
    types = frozenset(_strings(doc.get("types"), f"{origin}: types"))
    out: list[Prefecture] = []
    for k, table in enumerate(_tables(doc, "prefecture", origin)):
        where = f"{origin}: prefecture[{k}]"
        if set(table) != {"ja", "romaji", "domain"} or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"{where}: needs exactly ja, romaji and domain (strings)")
        domain = _domain(table["domain"], where)
        romaji = table["romaji"]
        parts = domain.split(".")
        if len(parts) != 4 or parts[2:] != ["lg", "jp"] or parts[0] not in types or parts[1] != romaji:
            raise ConfigError(f"{where}: domain must be <type>.{romaji}.lg.jp")
        out.append(Prefecture(ja=table["ja"], romaji=romaji, domain=domain))
    return tuple(out), types


def load_brands(path: Path) -> tuple[Brand, ...]:
    doc = read_toml(path)
    origin = str(path)
    if set(doc) != {"brand"}:
        raise ConfigError(f"{origin}: needs only [[brand]] tables")
    out: list[Brand] = []
    for k, table in enumerate(_tables(doc, "brand", origin)):
        where = f"{origin}: brand[{k}]"
        if set(table) != {"name", "domains", "labels", "typo_labels"} or not isinstance(table["name"], str):
            raise ConfigError(f"{where}: needs exactly name, domains, labels and typo_labels")
        domains = tuple(_domain(d, where) for d in _strings(table["domains"], f"{where}.domains"))
        if not domains:
            raise ConfigError(f"{where}: needs at least one domain")
        labels = tuple(_strings(table["labels"], f"{where}.labels"))
        typo = tuple(_strings(table["typo_labels"], f"{where}.typo_labels"))
        if not set(typo) <= set(labels):
            raise ConfigError(f"{where}: typo_labels must be among labels")
        for label in labels:
            if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", label):
                raise ConfigError(f"{where}: label {label!r} is not a lower-case DNS label")
        out.append(Brand(name=table["name"], domains=domains, labels=labels, typo_labels=typo))
    return tuple(out)


def load_domain_list(path: Path, *, wildcards: bool = False) -> tuple[str, ...]:
    """A text list, one domain a line, '#' comments; with `wildcards`, "name.*" entries are allowed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8: {exc}") from exc
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        where = f"{path}:{number}"
        if wildcards and entry.endswith(".*"):
            if not re.fullmatch(r"[a-z0-9-]+", entry[:-2]):
                raise ConfigError(f"{where}: {entry!r} is not a name followed by .*")
            out.append(entry)
            continue
        out.append(_domain(entry, where))
    if not out:
        raise ConfigError(f"{path}: the list is empty")
    return tuple(out)


def load_domain_tools(
    *,
    gov_bodies: Path,
    lg_jp: Path,
    freemail: Path | None = None,
    brands: Path | None = None,
) -> DomainTools:
    """Load and index the lists (rules paths already resolved). The indexed government, LG.JP and brand lists
    are shared by every caller that reads the same file contents (the sender and link analyzers do); the
    free-mail list, read each time, is added to a copy."""
    key = _contents_key(gov_bodies, lg_jp, brands)
    base = _TOOLS_CACHE.get(key) if key is not None else None
    if base is None:
        prefectures, types = load_prefectures(lg_jp)
        base = DomainTools.build(
            gov=load_gov_bodies(gov_bodies),
            prefectures=prefectures,
            lg_types=types,
            brands=load_brands(brands) if brands is not None else (),
        )
        if key is not None:
            if len(_TOOLS_CACHE) >= _TOOLS_CACHE_SIZE:
                _TOOLS_CACHE.clear()
            _TOOLS_CACHE[key] = base
    if freemail is None:
        return base
    exact, named = _split_freemail(load_domain_list(freemail, wildcards=True))
    return dataclasses.replace(base, freemail=exact, freemail_names=named, _facts_memo={}, _lookalike_memo={})


_TOOLS_CACHE: dict[tuple[bytes | None, ...], DomainTools] = {}
_TOOLS_CACHE_SIZE = 8


def _contents_key(*paths: Path | None) -> tuple[bytes | None, ...] | None:
    """The files' contents (the lists are small), or None when one cannot be read: loading then reports it."""
    try:
        return tuple(path.read_bytes() if path is not None else None for path in paths)
    except OSError:
        return None

"""Japanese a native would not write: kanji Japan does not use, broken phrases, text that reads machine-made.

Runs once per message on its subject, text body and HTML text (each capped at `MAX_FIELD_CHARS`, so a hostile
mail cannot make it slow), and only when the message is Japanese: it needs at least `MIN_KANA` kana making up at
least `MIN_KANA_RATIO` of its kana and kanji. English, Chinese or Korean text is never judged.

- JA_NON_JAPANESE_KANJI: han characters Japanese does not use. The reference is built from Python's codecs in
  setup(): a character fires when GB2312 (simplified Chinese) or Big5 (traditional Chinese) encodes it and
  neither cp932 (what Japanese Windows and every Japanese IME produce) nor EUC-JIS-2004 (JIS X 0213, which adds
  the rare kanji of Japanese names and places: 𠮟, 剝, 鷗, 﨑 …) does. JIS X 0213 also holds some simplified
  forms, so `JIS_X_0213_CHINESE` lists the common ones (关, 开, 两, 呢 …) that still fire; `CP932_CHINESE`
  lists the few Chinese forms cp932 itself contains (个, 无, 从, 們, 專 …), weaker evidence. Each character must
  also sit among kana (two within `CONTEXT_CHARS` either side, on its own line): a Chinese paragraph quoted in
  a Japanese mail does not count. Strength 1.0 for three or more distinct characters, else 0.8 when one is in
  `JIS_X_0213_CHINESE`, else 0.7; 0.5 when only `CP932_CHINESE` characters are present. Evidence lists the
  characters with their code points and quotes the text around the first one.
- JA_UNNATURAL_PHRASE: the rules in rules/ja/phrases.toml (see its header), matched on NFKC-normalised text.
  One finding per rule that fires, at the rule's strength; evidence names the rule and quotes the match.
- JA_LOW_NATURALNESS: a statistical score from a morphological analyser (SudachiPy with sudachidict-core,
  split mode C) over the first `NATURALNESS_CHARS` characters of the message's lines that carry kana (URLs and
  addresses removed; at least `NATURALNESS_MIN_CHARS`): the share of out-of-vocabulary words, the best path's
  cost per character, and the number of letter-spaced runs of one-character kanji/katakana words ("三 井 住
  友"). Any of them past its threshold fires it, strength 1.0, evidence naming which. It catches
  character-level noise that phrase rules cannot list (invisible characters, spaced-out words, garbled
  conversions); fluent machine translation reads as natural to it. The dictionary is loaded once per analyzer
  in setup(), never at import. SudachiPy is optional: without it (or with `naturalness = false`) this part
  records nothing and the other two findings work as before. A Sudachi tokenizer is not thread-safe: one
  analyzer, one thread.

Options ([analyzers.ja_text]): `phrases` (rules path, default "ja/phrases.toml"), `naturalness` (bool, default
true). The rules file is validated in setup(): a pattern that does not compile, a rule without examples or
counter-examples, an unknown key is a ConfigError.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, compress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.model import Finding
from triage.names import escape_controls
from triage.plugins import MessageView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options, read_toml

if TYPE_CHECKING:
    from triage.config import Config

__all__ = [
    "CP932_CHINESE",
    "JIS_X_0213_CHINESE",
    "JapaneseTextAnalyzer",
    "KanjiTables",
    "NaturalnessScore",
    "PhraseRule",
    "build_kanji_tables",
    "flagged_kanji",
    "is_japanese",
    "load_phrase_rules",
]

KANJI = "JA_NON_JAPANESE_KANJI"
PHRASE = "JA_UNNATURAL_PHRASE"
NATURALNESS = "JA_LOW_NATURALNESS"

DEFAULT_PHRASES = "ja/phrases.toml"
MAX_FIELD_CHARS = 20_000  # per field (subject, text, HTML text), before and after normalisation
MIN_KANA = 5
MIN_KANA_RATIO = 0.2
CONTEXT_CHARS = 12  # a flagged kanji needs kana within this many characters either side, on its line…
CONTEXT_KANA = 2  # …this many of them
MAX_KANJI_LISTED = 20
MAX_KANJI_OCCURRENCES = 50  # occurrences of one character examined for Japanese context…
MAX_CONTEXT_CHECKS = 2_000  # …and of all of them in one message (a long Chinese text under a Japanese subject)
MAX_QUOTES = 3
MAX_EVIDENCE_CHARS = 300  # what the runner allows an emitted evidence item
MAX_QUOTE_CHARS = 60  # of one match; escaping can make it longer, never more than 6 times
QUOTE_CONTEXT = 8
SNIPPET_CONTEXT = 10
NATURALNESS_CHARS = 800  # Sudachi plus our pass over its tokens cost 1.5-2.5 µs per character: ~2 ms at most
NATURALNESS_MIN_CHARS = 80  # too little text gives ratios that mean nothing
SUDACHI_CHUNK_CHARS = 1_000  # Sudachi's input limit is in bytes; tokenise in chunks well below it

# Calibrated on tests/data/ja (bench/eval_text.py). Natural texts there reach at most 2.6 % unknown words, a
# path cost of 2,604 per character and no letter-spaced run; lures with invisible characters reach 7-18 % and
# 4,100+, spaced-out phishing 3-6 runs.
OOV_RATIO_THRESHOLD = 0.10
COST_PER_CHAR_THRESHOLD = 3_200
SPACED_RUN = 4  # "三 井 住 友", "ご 利 用 日 時"
SPACED_RUNS_THRESHOLD = 2  # one letter-spaced heading is typography; several are obfuscation

# Common simplified Chinese forms that JIS X 0213 happens to contain (so EUC-JIS-2004 alone would excuse them)
# but no Japanese writer uses: they still fire. Each must be in GB2312, not in cp932 and in EUC-JIS-2004; a test
# checks that, and setup() refuses a list that breaks it.
JIS_X_0213_CHINESE = frozenset(
    "两关众减刘启吴园开帮灵灾笔达运阳阴沟沪壳肤胶荣迁养响叠吓卧娄巩泻渗窑筹袜撑惮烬瞩踌"  # simplified forms
    "呢么吧啊哪您咱嘿喂唉确种她"  # particles, pronouns and common words of Chinese
)
# Chinese forms that cp932 contains (JIS X 0208 level 2 or the IBM/NEC extensions) and that modern Japanese does
# not write in ordinary text: simplified 个 无 从 …, traditional 們 麼 讓 專 對. Weaker evidence (strength 0.5):
# old texts and a few names still use them. Each must be in cp932; a test checks that.
CP932_CHINESE = frozenset("个无从弃梦档况决粮犹册們麼讓專對")

_GB_BIG5_RANGES = ((0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_KANA = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe\uff66-\uff9d]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Japanese prose never goes five kana without one of these; their absence settles most non-Japanese mail fast.
_COMMON_KANA = "のにはをてたしすンー"
_WHITESPACE = re.compile(r"\s+")
_JAPANESE_SCRIPT = re.compile(r"[\u3041-\u30ff\u3400-\u9fff\uff66-\uff9d]")
_SINGLE_KANJI_KATAKANA = re.compile(r"[\u3400-\u9fff\u30a1-\u30fa\u30fc]")
# Linear on hostile input: the address part starts only where a run of address characters starts.
_URL = re.compile(r"(?:https?://|www\.)\S+|(?<![\w.%+-])[\w.%+-]+@[\w.-]+", re.ASCII)
_OPTIONS = frozenset({"phrases", "naturalness"})
_RULE_ID = re.compile(r"[a-z][a-z0-9_]*")
_KATAKANA_WORD = re.compile(r"[\u30a1-\u30fa\u30fc]+")
_LONG_VOWEL_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500\u2501"
_JAPANESE_CHAR = r"[\u3041-\u30ff\u3400-\u9fff]"


# -- kanji tables ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KanjiTables:
    """Which han characters are evidence, and how strong: built once from the codecs in setup()."""

    flagged: frozenset[str]  # every character that is evidence
    chinese: frozenset[str]  # in GB2312 or Big5, in neither cp932 nor EUC-JIS-2004
    jis_chinese: frozenset[str]  # JIS_X_0213_CHINESE
    cp932_chinese: frozenset[str]  # CP932_CHINESE


def _encodable(chars: str, codec: str) -> frozenset[str]:
    """The characters of `chars` that `codec` encodes, in one encode call (one call per character is 10x slower).

    Joined by newlines and encoded with "replace", each character becomes its bytes or b"?"; no trail byte of a
    CJK codec is 0x0A or 0x3F, so splitting on newlines lines the results up with the characters.
    """
    encoded = "\n".join(chars).encode(codec, "replace").split(b"\n")
    if len(encoded) != len(chars):
        raise ValueError(f"{codec}: encoded characters do not line up")
    return frozenset(compress(chars, map(b"?".__ne__, encoded)))  # in C: a third of the time of a genexpr


def flagged_kanji(chars: Iterable[str]) -> frozenset[str]:
    """The characters of `chars` that `build_kanji_tables().flagged` holds, from the same codecs.

    Each character's class depends on it alone, so classifying only the few hundred distinct characters of one
    message gives the table's answer without building the table (~60 ms): what a one-message scan wants.
    """
    present = set(chars)
    han = "".join(sorted(ch for ch in present if any(lo <= ord(ch) <= hi for lo, hi in _GB_BIG5_RANGES)))
    curated = present & (JIS_X_0213_CHINESE | CP932_CHINESE)
    if not han:
        return frozenset(curated)
    candidates = "".join(sorted(_encodable(han, "gb2312") | _encodable(han, "big5")))
    if not candidates:
        return frozenset(curated)
    japanese = _encodable(candidates, "cp932") | _encodable(candidates, "euc_jis_2004")
    return (frozenset(candidates) - japanese) | curated


def build_kanji_tables() -> KanjiTables:
    """Derive the tables from Python's codecs (GB2312, Big5, cp932, EUC-JIS-2004); checks the curated lists."""
    # GB2312 and Big5 hold unified ideographs only, plus two compatibility ones in Big5.
    han = "".join(chr(i) for start, end in _GB_BIG5_RANGES for i in range(start, end + 1))
    gb2312 = _encodable(han, "gb2312")
    candidates = "".join(sorted(gb2312 | _encodable(han, "big5")))
    japanese = _encodable(candidates, "cp932") | _encodable(candidates, "euc_jis_2004")
    chinese = frozenset(candidates) - japanese
    bad_jis = sorted(
        ch
        for ch in JIS_X_0213_CHINESE
        if ch not in candidates or ch.encode("cp932", "ignore") or not ch.encode("euc_jis_2004", "ignore")
    )
    bad_cp932 = sorted(ch for ch in CP932_CHINESE if not ch.encode("cp932", "ignore"))
    if bad_jis or bad_cp932:
        raise ConfigError(f"ja_text: curated kanji lists are wrong: {''.join(bad_jis)} {''.join(bad_cp932)}")
    return KanjiTables(
        flagged=chinese | JIS_X_0213_CHINESE | CP932_CHINESE,
        chinese=chinese,
        jis_chinese=JIS_X_0213_CHINESE,
        cp932_chinese=CP932_CHINESE,
    )


# -- phrase rules ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhraseRule:
    """One rule of rules/ja/phrases.toml, compiled. `patterns` holds one entry except for `all` rules."""

    id: str
    description: str
    strength: float
    regexes: tuple[str, ...]  # compiled on first use: see `patterns`
    every: bool  # an `all` rule: each pattern must match somewhere in the message
    min_count: int
    max_chars: int | None
    source: str
    examples: tuple[str, ...]
    counter_examples: tuple[str, ...]
    # One of these characters is in every text the rule can match (empty: no such filter). Most mail holds none
    # of a rare rule's characters, so its regex (some cost milliseconds to compile) is never built.
    needs: frozenset[str] = frozenset()
    where: str = ""

    @functools.cached_property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        patterns = tuple(_compile(r, self.where) for r in self.regexes)
        if any(p.match("") for p in patterns):
            raise ConfigError(f"{self.where}: {'a pattern' if self.every else 'pattern'} matches the empty string")
        return patterns


_RULE_KEYS = frozenset(
    {
        "id",
        "description",
        "strength",
        "source",
        "pattern",
        "literal",
        "all",
        "spaced_words",
        "long_vowel_words",
        "min_count",
        "max_chars",
        "examples",
        "counter_examples",
    }
)
_MATCHERS = ("pattern", "literal", "all", "spaced_words", "long_vowel_words")


def load_phrase_rules(path: Path, *, compiled: bool = True) -> tuple[PhraseRule, ...]:
    """Read and validate the phrase rules file; any problem is a ConfigError naming the file and the rule.

    `compiled=False` leaves the regexes to be compiled on first use: for the shipped file, which the tests prove.
    """
    doc = read_toml(path)
    return parse_phrase_rules(doc, str(path), compiled=compiled)


def parse_phrase_rules(doc: Mapping[str, Any], origin: str, *, compiled: bool = True) -> tuple[PhraseRule, ...]:
    unknown = sorted(set(doc) - {"rules"})
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{origin}: needs at least one [[rules]] table")
    rules: list[PhraseRule] = []
    seen: set[str] = set()
    for k, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, f"{origin}: rules[{k}]")
        if compiled:
            _ = rule.patterns
        if rule.id in seen:
            raise ConfigError(f"{origin}: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(raw: Any, where: str) -> PhraseRule:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise ConfigError(f"{where}: id must be a snake_case string")
    where = f"{where} ({rule_id})"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{where}: needs a description")
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{where}: needs a source")
    strength = raw.get("strength")
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 < strength <= 1:
        raise ConfigError(f"{where}: strength must be a number in (0, 1]")
    min_count = raw.get("min_count", 1)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ConfigError(f"{where}: min_count must be a positive integer")
    max_chars = raw.get("max_chars")
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1):
        raise ConfigError(f"{where}: max_chars must be a positive integer")
    matchers = [key for key in _MATCHERS if key in raw]
    if len(matchers) != 1:
        raise ConfigError(f"{where}: needs exactly one of {', '.join(_MATCHERS)}")
    regexes, needs = _matcher(matchers[0], raw[matchers[0]], where)
    examples = _texts(raw.get("examples"), f"{where}: examples")
    counter = _texts(raw.get("counter_examples"), f"{where}: counter_examples")
    return PhraseRule(
        id=rule_id,
        description=description.strip(),
        strength=float(strength),
        regexes=regexes,
        every=matchers[0] == "all",
        min_count=min_count,
        max_chars=max_chars,
        source=source.strip(),
        examples=examples,
        counter_examples=counter,
        needs=needs,
        where=where,
    )


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a non-empty list of non-empty strings")
    return tuple(value)


def _compile(source: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(source)
    except re.error as exc:
        raise ConfigError(f"{where}: pattern does not compile: {exc}") from exc


def _matcher(kind: str, value: Any, where: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A rule's regex sources and the characters one of which any text it matches holds (see PhraseRule)."""
    if kind in ("pattern", "literal"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {kind} must be a non-empty string")
        if kind == "literal":
            return (re.escape(value),), frozenset(value[0])
        return (value,), leading_chars(value)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {kind} must be a non-empty list of non-empty strings")
    if kind == "all":
        if len(value) < 2:
            raise ConfigError(f"{where}: all needs at least two patterns")
        # every pattern must match: what any one of them needs, the rule needs
        return tuple(value), next((n for n in map(leading_chars, value) if n), frozenset())
    if kind == "spaced_words":
        # each word is matched with a space inside it (the texts are NFKC: an ideographic space is a space)
        return (_spaced_words_pattern(value, where),), frozenset(" ")
    # each word is matched with a dash standing for an inner ー
    return (_long_vowel_pattern(value, where),), frozenset(_LONG_VOWEL_DASHES)


_REGEX_SPECIAL = frozenset("\\.^$*+?{}[]()|")
_MAY_BE_ABSENT = ("?", "*", "{")
_MAX_NEEDS = 64  # a larger class is no cheap filter: substring searches, one per character


def leading_chars(source: str) -> frozenset[str]:
    """Characters one of which starts every match of the regex `source`, when that is plain to see; else empty.

    Only the simplest heads are read: a literal character, a \\uXXXX escape or an escaped special character, or a
    class of those and ranges (not negated, at most _MAX_NEEDS characters), not made optional by a quantifier,
    in a regex with no alternation at the top level. Anything else (a group, a flag, \\s, a dot) gives no filter.
    """
    if _top_level_alternation(source):
        return frozenset()
    head, end = _head(source)
    if not head or source[end : end + 1] in _MAY_BE_ABSENT:
        return frozenset()
    return head


def _escaped(source: str, i: int) -> tuple[str | None, int]:
    """The literal character of the escape at source[i] ("\\"), and where it ends; None if it is no literal."""
    nxt = source[i + 1 : i + 2]
    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[i + 2 : i + 6]):
        return chr(int(source[i + 2 : i + 6], 16)), i + 6
    if nxt and nxt in _REGEX_SPECIAL | {"-", "/"}:
        return nxt, i + 2
    return None, i + 2


def _head(source: str) -> tuple[frozenset[str], int]:
    if not source:
        return frozenset(), 0
    first = source[0]
    if first == "\\":
        ch, end = _escaped(source, 0)
        return (frozenset(ch), end) if ch is not None else (frozenset(), end)
    if first != "[":
        return (frozenset(), 1) if first in _REGEX_SPECIAL else (frozenset(first), 1)
    items: set[str] = set()
    i = 1
    if source[i : i + 1] in ("^", "]"):
        return frozenset(), i  # negated, or a literal "]" first: not read
    low: str | None = None  # the last single character, which a "-" may turn into a range's start
    while i < len(source) and source[i] != "]":
        is_range = source[i] == "-" and low is not None and source[i + 1 : i + 2] not in ("]", "")
        if is_range:
            i += 1
        if source[i] == "\\":
            ch, i = _escaped(source, i)
            if ch is None:
                return frozenset(), i
        elif source[i] == "[":
            return frozenset(), i  # a nested set or a POSIX-looking class: not read
        else:
            ch, i = source[i], i + 1
        if is_range and low is not None:
            if ord(ch) < ord(low) or ord(ch) - ord(low) > _MAX_NEEDS:
                return frozenset(), i
            items.update(chr(c) for c in range(ord(low), ord(ch) + 1))
            low = None
        else:
            items.add(ch)
            low = ch
    if i >= len(source) or not items or len(items) > _MAX_NEEDS:
        return frozenset(), i
    return frozenset(items), i + 1


def _top_level_alternation(source: str) -> bool:
    depth = 0
    i = 0
    in_class = False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if source[i + 1 : i + 2] == "^":
                i += 1
            if source[i + 1 : i + 2] == "]":
                i += 1  # a "]" first in a class is a literal
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
        i += 1
    return False


def _spaced_words_pattern(words: Sequence[str], where: str) -> str:
    """One regex for words written with spaces inside, attached to Japanese text on at least one side.

    The spaces can sit anywhere inside the word; an all-katakana word needs two of them, since a single space
    can split two katakana words ("ログ インデックス"). Heading-style letter spacing ("【お 願 い】") is not
    attached to any Japanese character and does not match.

    The regex is built for a cheap compile and a fast scan. A class of Japanese characters J spans 27,000 code
    points and sre fills its bitmap one code point at a time (~1 ms each): it appears only twice, as
    `HEAD (?: (?<=J.) TAILS | TAILS (?=J) )`. HEAD is the set of first characters, so the regex engine can skip
    ahead to them (with a lookbehind in front it is ten times slower). TAILS are grouped by the character that
    follows the head (a space or the word's second character), so a position rejects the wrong groups in one
    comparison each; inside a group, a lookbehind (?<=hc) ties each tail to its word's head. The matches, and
    their order of preference, are those of one branch per word: head, then J before it or J after the word.
    """
    groups: dict[str, list[str]] = {}
    heads: dict[str, None] = {}
    for word in words:
        if len(word) < 2 or any(ch.isspace() for ch in word):
            raise ConfigError(f"{where}: spaced word {word!r} must be two or more characters without spaces")
        needed = 2 if _KATAKANA_WORD.fullmatch(word) and len(word) >= 3 else 1
        head = re.escape(word[0])
        heads[head] = None
        for first in combinations(range(1, len(word)), needed):
            # `first` are the first `needed` gaps that hold a space; later gaps may or may not.
            parts: list[str] = []
            for i, ch in enumerate(word[1:], start=1):
                if i in first:
                    parts.append(" {1,2}")
                elif i > first[-1]:
                    parts.append(" {0,2}")
                parts.append(re.escape(ch))
            # The tail starts with a literal (what follows the head), then checks the head behind it.
            if 1 in first:  # " {1,2}" is " " then " ?"
                lead, parts[0] = " ", f"(?<={head} ) ?"
            else:
                lead, parts[0] = parts[0], f"(?<={head}{parts[0]})"
            groups.setdefault(lead, []).append("".join(parts))
    tails = "|".join(f"{lead}(?:{'|'.join(alternatives)})" for lead, alternatives in groups.items())
    return f"(?:{'|'.join(heads)})(?:(?<={_JAPANESE_CHAR}.)(?:{tails})|(?:{tails})(?={_JAPANESE_CHAR}))"


def _long_vowel_pattern(words: Sequence[str], where: str) -> str:
    """One regex for katakana words whose inner ー is written with a dash; a final ー may be either."""
    dash = "[" + re.escape(_LONG_VOWEL_DASHES) + "]"
    alternatives: list[str] = []
    for word in words:
        inner = [i for i, ch in enumerate(word[:-1]) if ch == "ー" and i > 0]
        if not _KATAKANA_WORD.fullmatch(word) or not inner:
            raise ConfigError(f"{where}: long-vowel word {word!r} must be katakana with an inner ー")
        for k in inner:
            parts = []
            for i, ch in enumerate(word):
                if i == k:
                    parts.append(dash)
                elif ch == "ー":
                    parts.append(f"(?:ー|{dash})")
                else:
                    parts.append(re.escape(ch))
            alternatives.append("".join(parts))
    return "(?:" + "|".join(alternatives) + ")"


# -- naturalness ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NaturalnessScore:
    """What the morphological analyser made of a text."""

    chars: int
    tokens: int  # tokens with kana or kanji in them
    oov: int  # of those, out-of-vocabulary
    spaced_runs: int  # runs of SPACED_RUN or more one-character kanji/katakana tokens, each set apart by spaces
    cost: int  # the best path's total cost

    @property
    def oov_ratio(self) -> float:
        return self.oov / self.tokens if self.tokens else 0.0

    @property
    def cost_per_char(self) -> float:
        return self.cost / self.chars if self.chars else 0.0

    def reasons(self) -> list[str]:
        """Which thresholds the text crosses (none for natural Japanese)."""
        out: list[str] = []
        if self.oov_ratio >= OOV_RATIO_THRESHOLD:
            out.append(f"unknown words {self.oov}/{self.tokens} ({self.oov_ratio:.0%} >= {OOV_RATIO_THRESHOLD:.0%})")
        if self.cost_per_char >= COST_PER_CHAR_THRESHOLD:
            out.append(f"path cost {self.cost_per_char:.0f} per character (>= {COST_PER_CHAR_THRESHOLD})")
        if self.spaced_runs >= SPACED_RUNS_THRESHOLD:
            out.append(f"{self.spaced_runs} letter-spaced runs of kanji/katakana (>= {SPACED_RUNS_THRESHOLD})")
        return out


def _sudachi_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("sudachipy", "sudachidict_core"))


def _load_sudachi() -> Any:
    """A SudachiPy tokenizer over sudachidict-core, or None when either is not installed."""
    try:
        sudachipy = importlib.import_module("sudachipy")
        dictionary = sudachipy.Dictionary(dict="core")
    except (ImportError, OSError, RuntimeError, ValueError):  # not installed, or the dictionary is missing
        return None
    # Split mode C keeps compounds whole, so an unknown token means text the dictionary cannot place.
    return dictionary.tokenizer(sudachipy.SplitMode.C, fields=set())


def japanese_lines(text: str, limit: int = NATURALNESS_CHARS) -> str:
    """The lines of `text` that carry kana, URLs and addresses removed, up to `limit` characters."""
    out: list[str] = []
    size = 0
    for line in text.splitlines():
        if not _KANA.search(line):
            continue
        line = _WHITESPACE.sub(" ", _URL.sub(" ", line[: 2 * limit])).strip()
        if not line:
            continue
        out.append(line[: limit - size])
        size += len(out[-1]) + 1
        if size >= limit:
            break
    return "\n".join(out)


def score_naturalness(tokenizer: Any, text: str) -> NaturalnessScore:
    tokens = oov = spaced_runs = cost = 0
    run = 0  # one-character kanji/katakana tokens so far in the current letter-spaced run
    spaced = False  # whitespace seen since the last token
    for start in range(0, len(text), SUDACHI_CHUNK_CHARS):
        morphemes = tokenizer.tokenize(text[start : start + SUDACHI_CHUNK_CHARS])
        cost += int(morphemes.get_internal_cost())
        for morpheme in morphemes:
            surface = morpheme.surface()
            if surface.isspace():
                spaced = True
                continue
            if _SINGLE_KANJI_KATAKANA.fullmatch(surface):
                run = run + 1 if spaced and run else 1
            else:
                spaced_runs += run >= SPACED_RUN
                run = 0
            spaced = False
            if not _JAPANESE_SCRIPT.search(surface):
                continue  # ASCII, digits, symbols: the dictionary's coverage of them says nothing
            tokens += 1
            oov += bool(morpheme.is_oov())
    spaced_runs += run >= SPACED_RUN
    return NaturalnessScore(chars=len(text), tokens=tokens, oov=oov, spaced_runs=spaced_runs, cost=cost)


# -- the analyzer ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fields:
    raw: tuple[str, ...]  # subject, text, HTML text: capped, not normalised
    normalised: tuple[str, ...]  # the same, NFKC


def is_japanese(text: str) -> bool:
    """Enough kana, and a large enough share of the kana + kanji, to call `text` Japanese."""
    if not any(ch in text for ch in _COMMON_KANA):
        return False  # most mail: one fast substring search per character instead of a regex scan
    kana = len(_KANA.findall(text))
    if kana < MIN_KANA:
        return False
    han = len(_HAN.findall(text))
    return kana >= MIN_KANA_RATIO * (kana + han)


class JapaneseTextAnalyzer:
    name = "ja_text"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits = declared_emits(__name__, "JapaneseTextAnalyzer")

    def __init__(self) -> None:
        self._rules: tuple[PhraseRule, ...] | None = None
        self._kanji: KanjiTables | None = None
        self._tokenizer: Any = None
        self._naturalness_wanted = False

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.ja_text")
        path = options.get("phrases", DEFAULT_PHRASES)
        if not isinstance(path, str) or not path:
            raise ConfigError("[analyzers.ja_text] phrases must be a path to a rules file")
        naturalness = options.get("naturalness", True)
        if not isinstance(naturalness, bool):
            raise ConfigError("[analyzers.ja_text] naturalness must be true or false")
        # The shipped file is proven by the tests: its regexes compile on first use (prepare() compiles them all).
        self._rules = load_phrase_rules(config.rules_path(path), compiled=path != DEFAULT_PHRASES)
        # The Sudachi dictionary (~50 ms) is loaded on the first Japanese message and the kanji tables (~60 ms)
        # only by prepare(): most mail is not Japanese, and a one-message `triage scan` should not pay for them.
        self._kanji = None
        self._tokenizer = None
        self._naturalness_wanted = naturalness and _sudachi_installed()

    @property
    def rules(self) -> tuple[PhraseRule, ...]:
        if self._rules is None:
            raise RuntimeError("JapaneseTextAnalyzer.setup() was not called")
        return self._rules

    @property
    def kanji(self) -> KanjiTables:
        if self._rules is None:
            raise RuntimeError("JapaneseTextAnalyzer.setup() was not called")
        if self._kanji is None:
            self._kanji = build_kanji_tables()
        return self._kanji

    def prepare(self) -> None:
        """Compile the phrase rules, build the kanji tables, load the Sudachi dictionary: now, not on first use."""
        for rule in self.rules:
            _ = rule.patterns
        _ = self.kanji
        self._sudachi()

    @property
    def has_naturalness(self) -> bool:
        """Whether JA_LOW_NATURALNESS can fire: SudachiPy and its dictionary are installed and enabled."""
        return self._naturalness_wanted

    def _sudachi(self) -> Any:
        if self._tokenizer is None and self._naturalness_wanted:
            self._tokenizer = _load_sudachi()
            if self._tokenizer is None:
                self._naturalness_wanted = False  # installed but unusable: say so once, by not firing
        return self._tokenizer

    def analyze(self, target: MessageView, ctx: PluginContext) -> Iterable[Finding]:
        raw = tuple(
            dict.fromkeys(
                # One line ending: "$" in a multi-line pattern does not match before "\r".
                text[:MAX_FIELD_CHARS].replace("\r\n", "\n").replace("\r", "\n")
                for text in (target.info.subject or "", target.text, target.html_text)
                if text and text.strip()
            )
        )
        if not raw or not is_japanese("\n".join(raw)):
            return []
        fields = _Fields(raw=raw, normalised=tuple(unicodedata.normalize("NFKC", t)[:MAX_FIELD_CHARS] for t in raw))
        findings: list[Finding] = []
        kanji = self._non_japanese_kanji(fields, ctx)
        if kanji is not None:
            strength, evidence = kanji
            findings.append(self._finding(KANJI, target, strength, evidence))
        ctx.check_deadline()
        for rule in self.rules:
            quotes = self._rule_quotes(rule, fields)
            if quotes:
                findings.append(
                    self._finding(PHRASE, target, rule.strength, (f"{rule.id}: {rule.description}", *quotes))
                )
        ctx.check_deadline()
        naturalness = self._naturalness(fields)
        if naturalness is not None:
            findings.append(self._finding(NATURALNESS, target, 1.0, naturalness))
        return findings

    def _finding(self, finding_id: str, target: MessageView, strength: float, evidence: Sequence[str]) -> Finding:
        # Returned findings reach the report unclipped (only ctx.emit clips): keep each item short here.
        clipped = tuple(e if len(e) <= MAX_EVIDENCE_CHARS else e[: MAX_EVIDENCE_CHARS - 1] + "…" for e in evidence)
        return Finding(id=finding_id, artifact=target.artifact, analyzer=self.name, strength=strength, evidence=clipped)

    # -- JA_NON_JAPANESE_KANJI -----------------------------------------------------------------------------------
    def _non_japanese_kanji(self, fields: _Fields, ctx: PluginContext) -> tuple[float, list[str]] | None:
        # The full table once prepared (a worker scanning many messages); else only this message's characters.
        flagged = self._kanji.flagged if self._kanji is not None else flagged_kanji(set().union(*fields.raw))
        found: dict[str, None] = {}
        snippet = ""
        budget = MAX_CONTEXT_CHECKS
        for text in fields.raw:
            # set() and str.find run in C: a hostile field of 20k kanji costs a few hundred microseconds.
            present = sorted((set(text) & flagged) - found.keys(), key=text.find)
            for ch in present:
                if len(found) >= MAX_KANJI_LISTED or budget <= 0:
                    break
                at, tried = _in_japanese_context(text, ch, min(budget, MAX_KANJI_OCCURRENCES))
                budget -= tried
                if at < 0:
                    continue  # never among kana: a quoted Chinese line, a name in a list
                if not found:
                    snippet = _snippet(text, at, SNIPPET_CONTEXT)
                found[ch] = None
            ctx.check_deadline()
        if not found:
            return None
        strong = [ch for ch in found if ch not in CP932_CHINESE]
        if len(strong) >= 3 or (strong and len(found) >= 3):
            strength = 1.0
        elif any(ch in JIS_X_0213_CHINESE for ch in strong):
            strength = 0.8
        elif strong:
            strength = 0.7
        else:
            strength = 0.5
        evidence = [f"{len(found)} character(s) Japanese does not write: " + ", ".join(_codepoint(ch) for ch in found)]
        weak = [ch for ch in found if ch in CP932_CHINESE]
        if weak:
            evidence.append("weaker (Chinese forms cp932 also holds): " + " ".join(weak))
        evidence.append(f'in "{snippet}"')
        return strength, evidence

    # -- JA_UNNATURAL_PHRASE -------------------------------------------------------------------------------------
    def _rule_quotes(self, rule: PhraseRule, fields: _Fields) -> list[str]:
        texts = [t for t in fields.normalised if rule.max_chars is None or len(t) <= rule.max_chars]
        if not texts or (rule.needs and not any(c in t for t in texts for c in rule.needs)):
            return []  # no text holds a character every match needs: the rule cannot fire (its regex stays unbuilt)
        quotes: dict[str, None] = {}
        for pattern in rule.patterns:
            found = False
            for text in texts:
                hits = _matches(pattern, text, rule.min_count)
                if len(hits) >= rule.min_count:
                    found = True
                    for hit in hits[:MAX_QUOTES]:
                        quotes.setdefault(f'"{_snippet(text, hit.start(), QUOTE_CONTEXT, hit.end())}"')
                    break
            if rule.every and not found:
                return []
            if not rule.every and found:
                break
        return list(quotes)[: MAX_QUOTES + len(rule.patterns)]

    # -- JA_LOW_NATURALNESS --------------------------------------------------------------------------------------
    def _naturalness(self, fields: _Fields) -> list[str] | None:
        if not self._naturalness_wanted:
            return None
        text = japanese_lines("\n".join(fields.raw))
        if len(text) < NATURALNESS_MIN_CHARS:
            return None
        tokenizer = self._sudachi()
        if tokenizer is None:
            return None
        result = score_naturalness(tokenizer, text)
        reasons = result.reasons()
        if not reasons:
            return None
        return [*reasons, f"over {result.chars} characters of Japanese, {result.tokens} words"]


def _in_japanese_context(text: str, ch: str, tries: int) -> tuple[int, int]:
    """The first position of `ch` in `text` with enough kana around it (or -1), and how many positions it tried.

    Looks at no more than `tries` occurrences.
    """
    at = text.find(ch)
    for tried in range(tries):
        if at < 0:
            return -1, tried
        # The window stays on the character's line: kana on the line above do not make a Chinese line Japanese.
        line_end = text.find("\n", at)
        lo = max(at - CONTEXT_CHARS, text.rfind("\n", 0, at) + 1)
        hi = min(at + CONTEXT_CHARS + 1, len(text) if line_end < 0 else line_end)
        if len(_KANA.findall(text, lo, hi)) >= CONTEXT_KANA:
            return at, tried + 1
        at = text.find(ch, at + 1)
    return -1, tries


def _matches(pattern: re.Pattern[str], text: str, needed: int) -> list[re.Match[str]]:
    """Up to max(needed, MAX_QUOTES) non-overlapping matches: enough to decide and to quote."""
    out: list[re.Match[str]] = []
    for match in pattern.finditer(text):
        out.append(match)
        if len(out) >= max(needed, MAX_QUOTES):
            break
    return out


def _snippet(text: str, start: int, context: int, end: int | None = None) -> str:
    """The text around [start, end), whitespace folded to one space, controls escaped, with … where cut.

    A long match is cut to its first MAX_QUOTE_CHARS characters: findings reach the report as they are.
    """
    end = start + 1 if end is None else min(end, start + MAX_QUOTE_CHARS)
    lo, hi = max(0, start - context), min(len(text), end + context)
    body = _WHITESPACE.sub(" ", text[lo:hi])
    return escape_controls(("…" if lo > 0 else "") + body + ("…" if hi < len(text) else ""))


def _codepoint(ch: str) -> str:
    return f"{ch} U+{ord(ch):04X}"

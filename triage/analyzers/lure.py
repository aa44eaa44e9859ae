"""LURE_THEME: the subject, the opening lines or an attachment name ride a theme targeted mail is known to use.

The NPA report lists the themes of 標的型メール攻撃 — meeting reports, welcome parties, the earthquake and
radiation, power cuts, New-Year and Christmas greetings — and IPA, NISC and JPCERT/CC add invoices, résumés,
personnel changes, security warnings, surveys and interview requests. The themes and their words live in
rules/lists/lure_themes.toml, each with examples that must match and natural counter-examples that must not.

This is a weak signal by design (ordinary business mail about a meeting matches too); the weight in
rules/scoring.toml is small and the lure group is capped. One finding per message at most, an evidence line
per theme and place, strength from the strongest: subject 1.0, attachment name 0.7, opening lines only 0.5;
themes marked `generic` (meetings, schedules) count 0.7 of that.

Text is matched after NFKC (full-width letters, half-width katakana), lower-casing and dropping invisible
characters (phishing hides U+2061 inside words). Speed: per place, one alternation of non-ASCII keywords and one
of ASCII words, each built of literals only so that sre skips at C speed to the characters that can start a
match, then each pattern on its own; about 45 µs a message over the shared corpus.

Options ([analyzers.lure]): `themes` (rules path, default "lists/lure_themes.toml"), `opening_lines` (int,
default 10) and `opening_chars` (int, default 600): how much of the body counts as its opening.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
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
    "Example",
    "Hit",
    "LureAnalyzer",
    "LureThemes",
    "Theme",
    "load_lure_themes",
    "opening_text",
    "parse_lure_themes",
]

DEFAULT_THEMES = "lists/lure_themes.toml"
DEFAULT_OPENING_LINES = 10
DEFAULT_OPENING_CHARS = 600
_OPTIONS = frozenset({"themes", "opening_lines", "opening_chars"})

SUBJECT, ATTACHMENT, BODY = "subject", "attachment", "body"
PLACES = (SUBJECT, ATTACHMENT, BODY)
STRENGTH = MappingProxyType({SUBJECT: 1.0, ATTACHMENT: 0.7, BODY: 0.5})
GENERIC_FACTOR = 0.7

_MAX_SUBJECT = 1000
_MAX_ATTACHMENTS = 50
_MAX_NAME = 255
# characters of the body looked at to find its opening lines: a reply quoting pages of "> …" has no opening
# worth the cost of reading on
_BODY_SCAN = 3000
_CONTEXT = 24  # characters shown either side of a match in the body
_EVIDENCE_VALUE = 100
_MAX_KEYWORD = 60
_MAX_PATTERN = 200
# Separators inside a multi-word keyword: "merry christmas" also finds "MERRY_CHRISTMAS.pdf".
_SEPARATORS = re.compile(r"[\s_.\-]+")
_SEPARATOR_CLASS = r"[\s_.\-]*"
_ID = re.compile(r"[a-z][a-z0-9_]*")
_INVISIBLE = re.compile(
    "[\u00ad\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\U000e0000-\U000e0fff]"
)
_UPPER_OUTSIDE_ESCAPES = re.compile(r"(?<!\\)[A-Z]")
_ESCAPE = re.compile(r"\\.")

_THEME_KEYS = frozenset(
    {
        "id",
        "title_ja",
        "title_en",
        "generic",
        "keywords",
        "subject_keywords",
        "attachment_keywords",
        "patterns",
        "subject_patterns",
        "examples",
        "counter_examples",
    }
)
_EXAMPLE_KEYS = frozenset({"subject", "body", "attachments", "where"})
# the places each kind of word is looked for
_KEYWORD_PLACES = MappingProxyType(
    {
        "keywords": (SUBJECT, ATTACHMENT, BODY),
        "subject_keywords": (SUBJECT, ATTACHMENT),
        "attachment_keywords": (ATTACHMENT,),
    }
)
_PATTERN_PLACES = MappingProxyType({"patterns": (SUBJECT, ATTACHMENT, BODY), "subject_patterns": (SUBJECT, ATTACHMENT)})


@dataclass(frozen=True)
class Example:
    """A message that must (or, as a counter-example, must not) match its theme."""

    subject: str = ""
    body: str = ""
    attachments: tuple[str, ...] = ()
    where: str | None = None


@dataclass(frozen=True)
class Theme:
    id: str
    title_ja: str
    title_en: str
    generic: bool
    examples: tuple[Example, ...]
    counter_examples: tuple[Example, ...]


@dataclass(frozen=True)
class Hit:
    """One theme found in one place: what matched, and the text around it (already escaped)."""

    theme: Theme
    where: str
    matched: str
    context: str
    strength: float


@dataclass(frozen=True)
class _Word:
    """One ASCII keyword or pattern, with the literal it starts with: `lead in text` is checked before the regex
    runs, which costs a fraction of what an alternation pays at every letter of an English text."""

    lead: str
    source: str
    theme: int
    whole_word: bool  # keywords are whole words; a pattern says its own boundaries

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        # Compiled the first time its lead is in a text: ~100 of them, and most mail holds none.
        return re.compile(self.source)


@dataclass(frozen=True)
class _Matcher:
    """Everything looked for in one place.

    Keywords and patterns that start with a non-ASCII character form one alternation whose every branch starts
    with a literal (the rules file makes patterns start with one), so sre skips at C speed to the characters
    that can start a match; it cannot match pure-ASCII text and is skipped there. ASCII ones are `_Word`s.
    """

    non_ascii: re.Pattern[str] | None
    literal_theme: Mapping[str, int]  # keyword with separators removed -> theme index
    pattern_theme: tuple[tuple[re.Pattern[str], int], ...]  # the non-ASCII patterns
    words: tuple[_Word, ...]

    def find(self, text: str) -> Iterator[tuple[int, str, int, int]]:
        """(theme index, matched text, start, end) for matches in `text` (normalised): every theme found."""
        if self.non_ascii is not None and not text.isascii():
            for m in self.non_ascii.finditer(text):
                found = m.group(0)
                index = self.literal_theme.get(_key(found))
                if index is None:
                    # a pattern matched, which is rare: the alternation does not say which branch it was
                    index = next((i for p, i in self.pattern_theme if p.fullmatch(found)), None)
                if index is not None:
                    yield index, found, m.start(), m.end()
        for word in self.words:
            if word.lead not in text:
                continue
            for m in word.regex.finditer(text):
                if not word.whole_word or _whole_word(text, m.start(), m.end()):
                    yield word.theme, m.group(0), m.start(), m.end()
                    break


def _word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _whole_word(text: str, start: int, end: int) -> bool:
    """No ASCII letter or digit continues the match on either side: "cv" in "cv_2024", not in "cve"."""
    clear_before = start == 0 or not (_word_char(text[start - 1]) and _word_char(text[start]))
    clear_after = end == len(text) or not (_word_char(text[end]) and _word_char(text[end - 1]))
    return clear_before and clear_after


@dataclass(frozen=True)
class LureThemes:
    """rules/lists/lure_themes.toml, validated and compiled."""

    themes: tuple[Theme, ...]
    matchers: Mapping[str, _Matcher]

    def match(
        self,
        subject: str,
        body: str,
        attachments: Sequence[str] = (),
        *,
        opening_lines: int = DEFAULT_OPENING_LINES,
        opening_chars: int = DEFAULT_OPENING_CHARS,
    ) -> list[Hit]:
        """Every theme found, at most one hit per theme and place, in the order subject, attachments, body."""
        hits: list[Hit] = []
        seen: set[tuple[int, str]] = set()

        def scan(place: str, original: str, text: str) -> None:
            for index, matched, start, end in self.matchers[place].find(text):
                if (index, place) in seen:
                    continue
                seen.add((index, place))
                theme = self.themes[index]
                strength = STRENGTH[place] * (GENERIC_FACTOR if theme.generic else 1.0)
                shown = _around(text, start, end) if place == BODY else _short(original)
                hits.append(Hit(theme, place, matched, shown, round(strength, 3)))

        if subject:
            subject = subject[:_MAX_SUBJECT]
            scan(SUBJECT, subject, normalise(subject))
        for name in list(attachments)[:_MAX_ATTACHMENTS]:
            if name:
                name = name[:_MAX_NAME]
                scan(ATTACHMENT, name, normalise(name))
        opening = opening_text(body, opening_lines, opening_chars)
        if opening:
            # a theme already seen in the subject or a name needs no second line for the body
            seen.update((index, BODY) for index, _ in list(seen))
            scan(BODY, opening, normalise(opening))
        return hits


def normalise(text: str) -> str:
    """What keywords are matched against: NFKC (width, half-width katakana), lower case, no invisible characters.

    Phishing puts zero-width and invisible operators (U+2061, U+2064) and variation selectors inside words
    ("アカ\u2061ウント") to slip past keyword filters; they are dropped before matching.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return _INVISIBLE.sub("", text) if not text.isascii() else text


def opening_text(body: str, max_lines: int = DEFAULT_OPENING_LINES, max_chars: int = DEFAULT_OPENING_CHARS) -> str:
    """The first non-empty lines of a body, up to `max_lines` lines and `max_chars` characters.

    Quoted lines ("> …") are someone else's words, not this sender's opening, and are skipped.
    """
    if not body:
        return ""
    lines: list[str] = []
    size = 0
    for line in body[: max(_BODY_SCAN, 5 * max_chars)].splitlines():
        text = line.strip()
        if not text or text.startswith((">", "＞")):
            continue
        lines.append(text)
        size += len(text) + 1
        if len(lines) >= max_lines or size >= max_chars:
            break
    return "\n".join(lines)[:max_chars]


def _key(text: str) -> str:
    return _SEPARATORS.sub("", text)


def _short(text: str, limit: int = _EVIDENCE_VALUE) -> str:
    flat = " ".join(text.split())
    return escape_controls(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _around(text: str, start: int, end: int) -> str:
    left = max(0, start - _CONTEXT)
    right = min(len(text), end + _CONTEXT)
    snippet = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
    return _short(snippet, 2 * _CONTEXT + _MAX_KEYWORD)


class LureAnalyzer:
    name = "lure"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits = declared_emits(__name__, "LureAnalyzer")

    def __init__(self) -> None:
        self._themes: LureThemes | None = None
        self._opening_lines = DEFAULT_OPENING_LINES
        self._opening_chars = DEFAULT_OPENING_CHARS

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.lure")
        for key, default in (("opening_lines", DEFAULT_OPENING_LINES), ("opening_chars", DEFAULT_OPENING_CHARS)):
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[analyzers.lure] {key} must be a positive integer")
        path = options.get("themes", DEFAULT_THEMES)
        if not isinstance(path, str) or not path:
            raise ConfigError("[analyzers.lure] themes must be a path to a rules file")
        self._opening_lines = int(options.get("opening_lines", DEFAULT_OPENING_LINES))
        self._opening_chars = int(options.get("opening_chars", DEFAULT_OPENING_CHARS))
        self._themes = load_lure_themes(config.rules_path(path))

    @property
    def themes(self) -> LureThemes:
        if self._themes is None:
            raise RuntimeError("LureAnalyzer.setup() was not called")
        return self._themes

    def analyze(self, target: MessageView, ctx: PluginContext) -> Iterable[Finding]:
        hits = self.themes.match(
            target.info.subject or "",
            # a blank text/plain alternative beside the HTML is common: then the HTML's text is the body
            target.text if target.text.strip() else target.html_text,
            target.attachment_names,
            opening_lines=self._opening_lines,
            opening_chars=self._opening_chars,
        )
        if not hits:
            return []
        evidence = tuple(
            f"theme: {escape_controls(h.matched)} ({h.theme.title_en}) in {_PLACE_LABEL[h.where]}: {h.context}"
            for h in sorted(hits, key=lambda h: -h.strength)
        )
        return [
            Finding(
                id="LURE_THEME",
                artifact=target.artifact,
                analyzer=self.name,
                strength=max(h.strength for h in hits),
                evidence=evidence,
            )
        ]


_PLACE_LABEL = MappingProxyType({SUBJECT: "subject", ATTACHMENT: "attachment name", BODY: "opening lines"})


# -- rules file ------------------------------------------------------------------------------------------------
def load_lure_themes(path: Path) -> LureThemes:
    """Read and validate the lure themes file; any problem is a ConfigError naming the file."""
    doc = read_toml(path)
    return parse_lure_themes(doc, str(path))


def parse_lure_themes(doc: Mapping[str, Any], origin: str) -> LureThemes:
    unknown = sorted(set(doc) - {"themes"})
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}")
    raw_themes = doc.get("themes")
    if not isinstance(raw_themes, list) or not raw_themes:
        raise ConfigError(f"{origin}: needs a non-empty [[themes]] array")

    themes: list[Theme] = []
    # place -> key -> theme index (literals); place -> (pattern, index)
    literals: dict[str, dict[str, tuple[int, str]]] = {place: {} for place in PLACES}
    patterns: dict[str, list[tuple[str, int]]] = {place: [] for place in PLACES}
    for index, raw in enumerate(raw_themes):
        where = f"{origin}: themes[{index}]"
        body = _table(raw, where)
        extra = sorted(set(body) - _THEME_KEYS)
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
        theme_id = body.get("id")
        if not isinstance(theme_id, str) or not _ID.fullmatch(theme_id):
            raise ConfigError(f"{where}: id must be a lower-case identifier")
        where = f"{origin}: theme {theme_id}"
        if any(t.id == theme_id for t in themes):
            raise ConfigError(f"{where}: duplicate id")
        titles = [body.get("title_ja"), body.get("title_en")]
        if not all(isinstance(t, str) and t.strip() for t in titles):
            raise ConfigError(f"{where}: needs title_ja and title_en")
        generic = body.get("generic", False)
        if not isinstance(generic, bool):
            raise ConfigError(f"{where}: generic must be true or false")

        found_any = False
        for kind, places in _KEYWORD_PLACES.items():
            for keyword in _strings(body.get(kind, []), f"{where}.{kind}"):
                text = " ".join(normalise(keyword).split())
                key = _key(text)
                if not key or len(keyword) > _MAX_KEYWORD:
                    raise ConfigError(f"{where}.{kind}: {keyword!r} is empty or longer than {_MAX_KEYWORD}")
                for place in places:
                    other = literals[place].get(key)
                    if other is not None and other[0] != index:
                        raise ConfigError(f"{where}.{kind}: {keyword!r} also belongs to theme {themes[other[0]].id}")
                    literals[place][key] = (index, text)
                found_any = True
        for kind, places in _PATTERN_PLACES.items():
            for source in _strings(body.get(kind, []), f"{where}.{kind}"):
                _check_pattern(source, f"{where}.{kind}")
                for place in places:
                    patterns[place].append((source, index))
                found_any = True
        if not found_any:
            raise ConfigError(f"{where}: has no keywords or patterns")

        themes.append(
            Theme(
                id=theme_id,
                title_ja=str(titles[0]).strip(),
                title_en=str(titles[1]).strip(),
                generic=generic,
                examples=_examples(body.get("examples", []), f"{where}.examples"),
                counter_examples=_examples(body.get("counter_examples", []), f"{where}.counter_examples"),
            )
        )
        if not themes[-1].examples:
            raise ConfigError(f"{where}: needs at least one example")

    matchers = {place: _compile(literals[place], patterns[place]) for place in PLACES}
    return LureThemes(themes=tuple(themes), matchers=MappingProxyType(matchers))


def _compile(literals: Mapping[str, tuple[int, str]], patterns: Sequence[tuple[str, int]]) -> _Matcher:
    # Longest keyword first, so "人事異動" wins over "異動" at the same place; patterns after the keywords.
    non_ascii: list[str] = []
    words: list[_Word] = []
    non_ascii_patterns: list[tuple[re.Pattern[str], int]] = []
    for key, (index, text) in sorted(literals.items(), key=lambda item: (-len(item[0]), item[0])):
        source = _literal_source(text)
        if key.isascii():
            lead = _SEPARATORS.split(text.strip())[0]
            words.append(_Word(lead=lead, source=source, theme=index, whole_word=True))
        else:
            non_ascii.append(source)
    for source, index in patterns:
        lead = _leading_literal(source)
        if lead.isascii():
            word = _Word(lead=lead, source=source, theme=index, whole_word=False)
            _ = word.regex  # a rules-file pattern compiles at set-up: a bad one fails there
            words.append(word)
        else:
            non_ascii.append(source)
            non_ascii_patterns.append((re.compile(source), index))
    return _Matcher(
        non_ascii=re.compile("|".join(non_ascii)) if non_ascii else None,
        literal_theme=MappingProxyType({key: index for key, (index, _) in literals.items()}),
        pattern_theme=tuple(non_ascii_patterns),
        words=tuple(words),
    )


_SPECIAL = frozenset("\\.^$*+?{}[]()|")


def _leading_literal(source: str) -> str:
    """The literal text every match of a pattern starts with ("password" for "password\\s+reset")."""
    out: list[str] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            if source[i + 1 : i + 2] not in _ESCAPED_LITERALS:
                break
            literal, step = source[i + 1], 2
        elif ch in _SPECIAL:
            break
        else:
            literal, step = ch, 1
        if source[i + step : i + step + 1] in ("?", "*", "{"):
            break  # quantified: it may be absent
        out.append(literal)
        i += step
    return "".join(out)


def _literal_source(text: str) -> str:
    """A normalised keyword as a pattern: its separators match any run of separators, or none."""
    return _SEPARATOR_CLASS.join(re.escape(part) for part in _SEPARATORS.split(text) if part)


# What may not start a pattern: it must start with a literal character, so that it can join an alternation of
# literals without costing a try at every position of the text.
_NOT_LITERAL_START = frozenset("()[].^$*+?{|")
_QUANTIFIERS = ("?", "*", "{")
_ESCAPED_LITERALS = frozenset("\\.^$*+?{}[]()|-/<>【】「」")


def _check_pattern(source: str, where: str) -> None:
    if len(source) > _MAX_PATTERN:
        raise ConfigError(f"{where}: pattern longer than {_MAX_PATTERN} characters")
    if _UPPER_OUTSIDE_ESCAPES.search(_ESCAPE.sub("", source)):
        raise ConfigError(f"{where}: {source!r} has upper-case letters; text is matched lower-cased")
    try:
        compiled = re.compile(source)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid regular expression {source!r}: {exc}") from exc
    if compiled.search(""):
        raise ConfigError(f"{where}: {source!r} matches the empty string")
    if compiled.groups:
        raise ConfigError(f"{where}: {source!r} has capturing groups; use (?:…)")
    escaped = source.startswith("\\")
    first = source[1:2] if escaped else source[:1]
    after = source[2:3] if escaped else source[1:2]
    if (
        (escaped and first not in _ESCAPED_LITERALS)
        or (not escaped and (first in _NOT_LITERAL_START or first.isspace()))
        or after.startswith(_QUANTIFIERS)
    ):
        raise ConfigError(f"{where}: {source!r} must start with a literal character (list the variants instead)")


def _examples(value: Any, where: str) -> tuple[Example, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be an array of tables")
    out: list[Example] = []
    for k, raw in enumerate(value):
        here = f"{where}[{k}]"
        body = _table(raw, here)
        extra = sorted(set(body) - _EXAMPLE_KEYS)
        if extra:
            raise ConfigError(f"{here}: unknown key(s) {', '.join(extra)}")
        subject = body.get("subject", "")
        text = body.get("body", "")
        if not isinstance(subject, str) or not isinstance(text, str):
            raise ConfigError(f"{here}: subject and body must be strings")
        attachments = tuple(_strings(body.get("attachments", []), f"{here}.attachments"))
        place = body.get("where")
        if place is not None and place not in PLACES:
            raise ConfigError(f"{here}: where must be one of {', '.join(PLACES)}")
        out.append(Example(subject=subject, body=text, attachments=attachments, where=place))
    return tuple(out)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return value

"""Names built to deceive: bidi controls and invisible characters, double extensions, names that lie about content.

Runs on every artifact that has a name, readable or not: a member of an encrypted archive is still judged by
its name (its content checks are skipped).

- FILENAME_RLO: a bidi control (U+202A-202E, U+2066-2069, RLM, ALM: strength 1.0) or an invisible character
  (zero-width, LRM, BOM, word joiner, Hangul/braille fillers, U+180E and any other format character: 0.6) in
  the name. Evidence: the escaped name, what it displays as, and the code points.
- FILENAME_DOUBLE_EXT: the real extension runs code (`[double_ext] dangerous` in rules/lists/extensions.toml)
  and it is preceded by a document/media one (`decoy`), possibly across padding ("invoice.pdf      .exe"),
  or the name *displays* with a decoy extension (the RLO trick: "report\\u202efdp.exe" shows as
  "reportexe.pdf"). Padding alone, `padding_run` or more characters before a dangerous extension, is 0.7.
  Names like "archive.tar.gz", "v1.2.3.zip" or "photo.jpg.zip" never fire: their final extension is not
  dangerous.
- FILENAME_TYPE_MISMATCH: the content disagrees with the extension (`[executable_content]` and `[expected]`):
  1.0 when the content is executable and the extension is not one honest for it ("2011_08.doc" that is a PE),
  0.5 for another recognised type, 0.3 for the common oddities listed as `weak` (an .xls that is HTML).
  Unrecognised content never counts.

Options ([analyzers.filename]): `padding_run` (int, default 6), `extensions` (rules path, default
"lists/extensions.toml"). Both the options and the rules file are validated in setup.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.filetype import TAGS
from triage.model import Finding
from triage.names import (
    INVISIBLE_FILLERS,
    PADDING_CHARS,
    display_name,
    escape_controls,
    real_extension,
    strip_windows_trailing,
)
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options, read_toml

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["ContentRule", "Example", "ExtensionRules", "FilenameAnalyzer", "load_extension_rules", "shorten"]

DEFAULT_RULES = "lists/extensions.toml"
DEFAULT_PADDING_RUN = 6

# Reorder text: strength 1.0.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200f\u061c")
# Hide or pad without reordering: strength 0.6 (any other format character counts too).
INVISIBLES = frozenset("\u200e\u200b\u200c\u200d\u2060\ufeff\u180e") | INVISIBLE_FILLERS
# Format characters that draw a visible sign (Arabic number signs and the like): not hiding anything.
_VISIBLE_FORMAT = frozenset("\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd")
_MAX_CODEPOINTS_LISTED = 10
_NAME_EVIDENCE_CHARS = 160
_EXTENSION = re.compile(r"[a-z0-9][a-z0-9_-]*")
_OPTIONS = frozenset({"padding_run", "extensions"})


@dataclass(frozen=True)
class ContentRule:
    """What content an extension promises: `ok` tags are normal, `weak` ones odd but common."""

    ok: frozenset[str]
    weak: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Example:
    name: str
    types: tuple[str, ...]
    fires: frozenset[str]


@dataclass(frozen=True)
class ExtensionRules:
    """rules/lists/extensions.toml, validated."""

    dangerous: frozenset[str]
    decoy: frozenset[str]
    executable_content: Mapping[str, frozenset[str]]  # content tag -> extensions honest for it
    expected: Mapping[str, ContentRule]  # extension -> what its content should be
    examples: tuple[Example, ...] = ()


def shorten(text: str, limit: int = _NAME_EVIDENCE_CHARS) -> str:
    """Evidence stays short; keep both ends, since a name's extension is at its end."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-half:]


def _quoted(name: str) -> str:
    return f'"{shorten(escape_controls(name))}"'


class FilenameAnalyzer:
    name = "filename"
    scope = Scope.ARTIFACT
    accepts = frozenset({"*"})
    emits = declared_emits(__name__, "FilenameAnalyzer")

    def __init__(self) -> None:
        self._rules: ExtensionRules | None = None
        self._padding_run = DEFAULT_PADDING_RUN

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.filename")
        padding = options.get("padding_run", DEFAULT_PADDING_RUN)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 1:
            raise ConfigError("[analyzers.filename] padding_run must be a positive integer")
        path = options.get("extensions", DEFAULT_RULES)
        if not isinstance(path, str) or not path:
            raise ConfigError("[analyzers.filename] extensions must be a path to a rules file")
        self._padding_run = padding
        self._rules = load_extension_rules(config.rules_path(path))

    @property
    def rules(self) -> ExtensionRules:
        if self._rules is None:
            raise RuntimeError("FilenameAnalyzer.setup() was not called")
        return self._rules

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        name = target.name
        if not name or target.artifact.meta.get("decoded") or target.artifact.parent is None:
            # No name; or one we gave to source decoded out of a document; or the scanned input's own file name,
            # which the analyst or the mail store chose (a .msg converted to RFC 822, a saved .txt).
            return []
        findings: list[Finding] = []
        for finding_id, strength, evidence in (
            self._hidden_characters(name),
            self._double_extension(name),
            self._type_mismatch(name, target),
        ):
            if finding_id:
                findings.append(
                    Finding(id=finding_id, artifact=target.id, analyzer=self.name, strength=strength, evidence=evidence)
                )
        return findings

    # -- FILENAME_RLO ----------------------------------------------------------------------------------------
    def _hidden_characters(self, name: str) -> tuple[str, float, tuple[str, ...]]:
        if name.isprintable() and INVISIBLE_FILLERS.isdisjoint(name):
            return "", 0.0, ()  # every character we look for is non-printable, except the fillers
        found: dict[str, None] = {}
        strength = 0.0
        for ch in name:
            if ch in BIDI_CONTROLS:
                strength = 1.0
            elif ch in INVISIBLES or (unicodedata.category(ch) == "Cf" and ch not in _VISIBLE_FORMAT):
                strength = max(strength, 0.6)
            else:
                continue
            if len(found) < _MAX_CODEPOINTS_LISTED:
                found.setdefault(ch)
        if not found:
            return "", 0.0, ()
        points = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, 'UNNAMED')}" for ch in found)
        return (
            "FILENAME_RLO",
            strength,
            (
                f"name {_quoted(name)}",
                f"displays as {_quoted(display_name(name))}",
                points,
            ),
        )

    # -- FILENAME_DOUBLE_EXT ---------------------------------------------------------------------------------
    def _double_extension(self, name: str) -> tuple[str, float, tuple[str, ...]]:
        rules = self.rules
        real = real_extension(name)
        if real not in rules.dangerous:
            return "", 0.0, ()
        base = strip_windows_trailing(_basename(name))
        stem = base[: len(base) - len(real) - 1]
        unpadded = _strip_padding(stem)
        padding = len(stem) - len(unpadded)
        evidence: list[str] = []
        strength = 0.0
        decoy = _last_extension(unpadded)
        shown_decoy = _last_extension(_strip_padding(display_name(unpadded)))
        if decoy in rules.decoy or shown_decoy in rules.decoy:
            evidence.append(
                f'decoy extension ".{escape_controls(decoy if decoy in rules.decoy else shown_decoy)}" before ".{real}"'
            )
            strength = 1.0
        if padding >= self._padding_run:
            evidence.append(f'{padding} padding characters before ".{real}"')
            strength = max(strength, 0.7)
        shown = real_extension(display_name(name))
        if shown != real and shown in rules.decoy:
            evidence.append(f'displayed extension ".{shown}", real extension ".{real}"')
            strength = 1.0
        if not evidence:
            return "", 0.0, ()
        return "FILENAME_DOUBLE_EXT", strength, (f"name {_quoted(name)}", *evidence)

    # -- FILENAME_TYPE_MISMATCH ------------------------------------------------------------------------------
    def _type_mismatch(self, name: str, target: ArtifactView) -> tuple[str, float, tuple[str, ...]]:
        types = target.types
        if not target.readable or "unreadable" in types:
            return "", 0.0, ()
        ext = real_extension(name)
        if not ext or not _EXTENSION.fullmatch(ext):
            return "", 0.0, ()
        rules = self.rules
        content = set(types)
        executable = [t for t in types if t in rules.executable_content]
        if executable:
            honest = frozenset().union(*(rules.executable_content[t] for t in executable))
            if ext in honest:
                return "", 0.0, ()
            strength = 1.0
        else:
            expected = rules.expected.get(ext)
            if expected is None or content & expected.ok or content <= {"unknown", "empty"}:
                return "", 0.0, ()
            strength = 0.3 if content & expected.weak else 0.5
        return (
            "FILENAME_TYPE_MISMATCH",
            strength,
            (
                f'named ".{ext}", content is "{content_label(types)}"',
                f"name {_quoted(name)}",
            ),
        )


def content_label(types: tuple[str, ...]) -> str:
    """The most specific tag: "pe-exe" for ("pe", "pe-exe", "dotnet"), "docx" for ("zip", "ooxml", "docx")."""
    for tag in reversed(types):
        if tag != "dotnet":
            return tag
    return "unknown"


def _basename(name: str) -> str:
    cut = max(name.rfind("/"), name.rfind("\\"))
    return name[cut + 1 :] if cut >= 0 else name


def _strip_padding(text: str) -> str:
    """`text` without trailing padding and invisible characters."""
    end = len(text)
    while end > 0:
        ch = text[end - 1]
        if ch in PADDING_CHARS or ch in INVISIBLES or ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cf":
            end -= 1
        else:
            break
    return text[:end]


def _last_extension(text: str) -> str:
    dot = text.rfind(".")
    return text[dot + 1 :].lower() if dot >= 0 else ""


# -- rules file ------------------------------------------------------------------------------------------------
_TOP_KEYS = frozenset({"double_ext", "executable_content", "expected", "examples"})


def load_extension_rules(path: Path) -> ExtensionRules:
    """Read and validate the extensions rules file; any problem is a ConfigError naming the file."""
    doc = read_toml(path)
    return parse_extension_rules(doc, str(path))


def parse_extension_rules(doc: Mapping[str, Any], origin: str) -> ExtensionRules:
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}")
    double = _table(doc.get("double_ext"), f"{origin}: [double_ext]")
    extra = sorted(set(double) - {"dangerous", "decoy"})
    if extra:
        raise ConfigError(f"{origin}: [double_ext] unknown key(s) {', '.join(extra)}")
    dangerous = _extensions(double.get("dangerous"), f"{origin}: double_ext.dangerous")
    decoy = _extensions(double.get("decoy"), f"{origin}: double_ext.decoy")
    if dangerous & decoy:
        raise ConfigError(f"{origin}: extensions both dangerous and decoy: {', '.join(sorted(dangerous & decoy))}")

    executable: dict[str, frozenset[str]] = {}
    for tag, exts in _table(doc.get("executable_content"), f"{origin}: [executable_content]").items():
        _known_tag(tag, f"{origin}: executable_content")
        if tag.startswith("script-") and tag != "script-encoded":
            raise ConfigError(f"{origin}: executable_content.{tag}: script tags come from the name, not content")
        executable[tag] = _extensions(exts, f"{origin}: executable_content.{tag}")

    expected: dict[str, ContentRule] = {}
    for ext, rule in _table(doc.get("expected"), f"{origin}: [expected]").items():
        where = f"{origin}: expected.{ext}"
        _check_extension(ext, where)
        body = _table(rule, where)
        extra = sorted(set(body) - {"ok", "weak"})
        if extra or "ok" not in body:
            raise ConfigError(f"{where}: needs `ok` and at most `weak`")
        expected[ext] = ContentRule(
            ok=_tags(body["ok"], f"{where}.ok"), weak=_tags(body.get("weak", []), f"{where}.weak")
        )

    examples: list[Example] = []
    raw_examples = doc.get("examples", [])
    if not isinstance(raw_examples, list):
        raise ConfigError(f"{origin}: examples must be an array of tables")
    for k, raw in enumerate(raw_examples):
        where = f"{origin}: examples[{k}]"
        body = _table(raw, where)
        if set(body) != {"name", "types", "fires"} or not isinstance(body["name"], str):
            raise ConfigError(f"{where}: needs exactly name (string), types and fires")
        fires = _strings(body["fires"], f"{where}.fires")
        if not fires <= FilenameAnalyzer.emits:
            raise ConfigError(f"{where}: fires names ids this analyzer does not emit")
        examples.append(Example(name=body["name"], types=tuple(_list(body["types"], f"{where}.types")), fires=fires))
        _tags(body["types"], f"{where}.types")

    return ExtensionRules(
        dangerous=dangerous,
        decoy=decoy,
        executable_content=MappingProxyType(executable),
        expected=MappingProxyType(expected),
        examples=tuple(examples),
    )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return value


def _strings(value: Any, where: str) -> frozenset[str]:
    return frozenset(_list(value, where))


def _check_extension(ext: str, where: str) -> None:
    if not _EXTENSION.fullmatch(ext):
        raise ConfigError(f"{where}: {ext!r} is not a lower-case extension without a dot")


def _extensions(value: Any, where: str) -> frozenset[str]:
    exts = _strings(value, where)
    for ext in exts:
        _check_extension(ext, where)
    return exts


def _known_tag(tag: str, where: str) -> None:
    if tag not in TAGS:
        raise ConfigError(f"{where}: unknown content tag {tag!r}")


def _tags(value: Any, where: str) -> frozenset[str]:
    tags = _strings(value, where)
    for tag in tags:
        _known_tag(tag, where)
    return tags

"""The words of the reports and the CLI in the analyst's language.

English finding titles and descriptions come from `rules/scoring.toml` (their one source; group descriptions too);
every other English string of the reports and the CLI lives in `rules/i18n/en.toml`. `rules/i18n/ja.toml` holds the
Japanese for all of them. Finding ids, JSON keys and values copied from the message are never translated.

String tables are `[ui.<area>]` (one per front end: `text`, `html`, `cli`, …) and are looked up as `area.key`;
finding texts are `[findings.<ID>]` with `title` and `description`, group descriptions `[groups.<name>]`.
This module imports nothing heavy: the CLI reads the help strings from it before parsing its arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.model import Level, NoteKind
from triage.rulefiles import read_toml

if TYPE_CHECKING:
    from triage.scoring.table import ScoringTable

SUPPORTED_LANGS = ("en", "ja")
DEFAULT_LANG = "en"
_LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def resolve_lang(requested: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language to use: `--lang`, else `TRIAGE_LANG`, else the locale (ja_JP.UTF-8 → ja), else English.

    An explicit `--lang` or `TRIAGE_LANG` that is not supported is a usage error; a locale we do not speak is not.
    """
    env = os.environ if environ is None else environ
    for source, value in (("--lang", requested), ("TRIAGE_LANG", env.get("TRIAGE_LANG"))):
        if value:
            lang = _normalise(value)
            if lang not in SUPPORTED_LANGS:
                raise ValueError(f"{source}: unsupported language {value!r} (choose from {', '.join(SUPPORTED_LANGS)})")
            return lang
    for variable in _LOCALE_VARIABLES:
        value = env.get(variable)
        if value:  # POSIX: the first set variable wins, even if it names a language we do not have
            lang = _normalise(value)
            return lang if lang in SUPPORTED_LANGS else DEFAULT_LANG
    return DEFAULT_LANG


def peek_lang(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """The language of `--help`, decided before argparse runs: `--lang X`/`--lang=X` anywhere in argv, else the
    environment. Never fails: a bad value is reported later, by the parser or by `resolve_lang`."""
    requested: str | None = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(argv):
            requested = argv[index + 1]
        elif arg.startswith("--lang="):
            requested = arg.partition("=")[2]
    for candidate in (requested, None):
        try:
            return resolve_lang(candidate, environ)
        except ValueError:
            continue
    env = os.environ if environ is None else environ
    return resolve_lang(None, {k: v for k, v in env.items() if k != "TRIAGE_LANG"})


def _normalise(value: str) -> str:
    # ja_JP.UTF-8, ja-JP, JA → ja
    return value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()


@dataclass(frozen=True)
class FindingText:
    title: str
    description: str


@dataclass(frozen=True)
class Messages:
    """Every user-facing word of one language. Missing keys fall back to English, then to the key itself."""

    lang: str
    ui: Mapping[str, str] = field(default_factory=dict)
    findings: Mapping[str, FindingText] = field(default_factory=dict)
    group_descriptions: Mapping[str, str] = field(default_factory=dict)

    def t(self, key: str, /, **fields: object) -> str:
        template = self.ui.get(key, key)
        return template.format(**fields) if fields else template

    def finding_title(self, finding_id: str) -> str:
        text = self.findings.get(finding_id)
        return text.title if text is not None else finding_id

    def finding_description(self, finding_id: str) -> str:
        text = self.findings.get(finding_id)
        return text.description if text is not None else ""

    def verdict(self, level: Level) -> str:
        return self.t(f"verdict.{level.value}")

    def group(self, name: str) -> str:
        key = f"group.{name}"
        return self.ui.get(key, name)

    def group_description(self, name: str) -> str:
        return self.group_descriptions.get(name, "")

    def note_kind(self, kind: NoteKind) -> str:
        key = f"note.{kind.value}"
        return self.ui.get(key, kind.value)


def i18n_dir(rules: Path) -> Path:
    return rules / "i18n"


def english_findings(scoring: ScoringTable) -> dict[str, FindingText]:
    texts = {sid: FindingText(sym.title, sym.description) for sid, sym in scoring.symbols.items()}
    for comp in scoring.composites:
        texts[comp.id] = FindingText(comp.title, comp.description)
    return texts


def _flatten_ui(doc: Mapping[str, Any], origin: str) -> dict[str, str]:
    flat: dict[str, str] = {}
    ui = doc.get("ui", {})
    if not isinstance(ui, dict):
        raise ConfigError(f"{origin}: [ui] must be a table")
    for area, table in ui.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [ui.{area}] must be a table")
        for key, value in table.items():
            if isinstance(value, dict):  # one more level: [ui.text.verdict] → text.verdict.clean
                for sub, text in value.items():
                    flat[f"{area}.{key}.{sub}"] = str(text)
            else:
                flat[f"{area}.{key}"] = str(value)
    return flat


def _findings_table(doc: Mapping[str, Any], origin: str) -> dict[str, FindingText]:
    out: dict[str, FindingText] = {}
    for fid, body in doc.get("findings", {}).items():
        if not isinstance(body, dict) or set(body) - {"title", "description"} or "title" not in body:
            raise ConfigError(f"{origin}: findings.{fid} takes 'title' and optionally 'description'")
        out[fid] = FindingText(str(body["title"]), str(body.get("description", "")))
    return out


def _group_descriptions(doc: Mapping[str, Any], origin: str) -> dict[str, str]:
    groups = doc.get("groups", {})
    if not isinstance(groups, dict):
        raise ConfigError(f"{origin}: [groups] must be a table")
    return {name: str(body.get("description", "")) for name, body in groups.items() if isinstance(body, dict)}


def _default_rules() -> Path:
    from triage.config import rules_dir  # lazily: the CLI asks for its help strings before anything else

    return rules_dir()


def load_messages(lang: str, scoring: ScoringTable | None = None, rules: Path | None = None) -> Messages:
    """The strings of `lang` over English. Reads a few small TOML files; call once per front-end run.

    Without `scoring` only the UI strings are loaded (what `--help` needs); finding titles are then absent.
    """
    if lang not in SUPPORTED_LANGS:
        raise ConfigError(f"unsupported language {lang!r}")
    root = rules if rules is not None else _default_rules()
    en_path = i18n_dir(root) / "en.toml"
    ui = _flatten_ui(read_toml(en_path), str(en_path))
    findings = english_findings(scoring) if scoring is not None else {}
    groups: dict[str, str] = {}
    if scoring is not None:
        scoring_path = root / "scoring.toml"
        groups = _group_descriptions(read_toml(scoring_path), str(scoring_path))
    if lang != "en":
        path = i18n_dir(root) / f"{lang}.toml"
        doc = read_toml(path)
        ui.update(_flatten_ui(doc, str(path)))
        if scoring is not None:
            findings.update(_findings_table(doc, str(path)))
            groups.update(_group_descriptions(doc, str(path)))
    return Messages(lang=lang, ui=ui, findings=findings, group_descriptions=groups)


# Characters a Japanese line may not start with (kinsoku shori): closing brackets, punctuation, small kana.
_NO_LINE_START = frozenset("、。，．・：；？！ー」』）〕〉》】｝ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ)]},.:;!?")
_NO_LINE_END = frozenset("「『（〔〈《【｛([{")  # opening brackets stay with what follows


def cell_width(text: str) -> int:
    """Terminal columns of `text`: wide and full-width characters (kanji, kana) take two."""
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def wrap_cells(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, for help in a language written without spaces: a line may break
    between two wide characters or at a space, never before closing punctuation; a longer word stands alone."""
    from unicodedata import east_asian_width

    tokens: list[str] = []
    word = ""
    for ch in " ".join(text.split()):
        glued = bool(tokens) and tokens[-1] != " " and (ch in _NO_LINE_START or tokens[-1][-1] in _NO_LINE_END)
        if ch == " " or east_asian_width(ch) in ("W", "F"):
            if word:
                tokens.append(word)
                word = ""
                glued = ch in _NO_LINE_START or tokens[-1][-1] in _NO_LINE_END
            if glued and ch != " ":
                tokens[-1] += ch
            else:
                tokens.append(ch)
        elif not word and glued:
            word = tokens.pop() + ch
        else:
            word += ch
    if word:
        tokens.append(word)
    lines: list[str] = []
    line = ""
    for piece in tokens:
        if piece == " ":
            line += " " if line else ""
            continue
        if line and cell_width(line + piece) > width:
            lines.append(line.rstrip())
            line = ""
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines

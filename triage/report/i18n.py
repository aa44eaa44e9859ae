"""The words of the reports in the analyst's language.

English finding titles and descriptions come from `rules/scoring.toml` (their one source); every other English
string of the reports and the CLI lives in `rules/i18n/en.toml`. `rules/i18n/ja.toml` holds the Japanese for both.
Finding ids, JSON keys and values copied from the message are never translated.

String tables are `[ui.<area>]` (one per front end: `text`, `html`, `cli`, …) and are looked up as `area.key`;
finding texts are `[findings.<ID>]` with `title` and `description`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import ConfigError
from triage.model import Level, NoteKind
from triage.rulefiles import read_toml
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


def _normalise(value: str) -> str:
    # ja_JP.UTF-8, ja-JP, JA → ja
    return value.strip().split(".")[0].replace("-", "_").split("_")[0].lower()


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

    def t(self, key: str, **fields: object) -> str:
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


def load_messages(lang: str, scoring: ScoringTable, rules: Path) -> Messages:
    """The strings of `lang` over English. Reads two small TOML files; call once per front-end run."""
    if lang not in SUPPORTED_LANGS:
        raise ConfigError(f"unsupported language {lang!r}")
    en_path = i18n_dir(rules) / "en.toml"
    ui = _flatten_ui(read_toml(en_path), str(en_path))
    findings = english_findings(scoring)
    if lang != "en":
        path = i18n_dir(rules) / f"{lang}.toml"
        doc = read_toml(path)
        ui.update(_flatten_ui(doc, str(path)))
        findings.update(_findings_table(doc, str(path)))
    return Messages(lang=lang, ui=ui, findings=findings)

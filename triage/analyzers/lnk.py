"""Windows shortcuts (.lnk): what they run, with which arguments, and how they disguise it.

A shortcut in mail is already ATTACHMENT_EXECUTABLE by type; this analyzer reads it (LnkParse3, imported on
first use) and records target, arguments, icon, working directory and the creating machine's NetBIOS name in
the artifact's meta (``lnk``), then:

- LNK_SUSPICIOUS_TARGET: the target is an interpreter or LOLBin (rules/lists/carriers.toml [lnk]
  interpreters); 1.0 with arguments, 0.5 without. Evidence quotes the target and the start of the arguments.
- LNK_HIDDEN_ARGUMENTS: arguments longer than what Explorer shows (260 characters) or padded with blanks.
- LNK_ICON_DECOY: an interpreter target wearing a document handler's icon (Acrobat, Word, Edge…), an icon file
  with a document extension (1.0), or an icon from shell32/imageres (0.6).
- SCRIPT_DOWNLOADER / SCRIPT_LAUNCHER / SCRIPT_OBFUSCATED: the arguments go through the script scanner
  (triage.analyzers.script), so ``cmd /c echo <base64> > x.bat & certutil -decode …`` is decoded and judged.

Unparsable shortcuts get an ``unparsable`` Note. Options ([analyzers.lnk]): ``lists`` (rules path of
carriers.toml) and the script scanner's ``patterns``/``max_decoded``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.analyzers.script import ScriptScanner, add_url_iocs, scanner_from_options, script_findings
from triage.errors import ConfigError
from triage.model import Finding, JsonValue, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options, read_toml

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["LnkAnalyzer", "LnkFacts", "LnkRules", "load_lnk_rules", "read_lnk"]

DEFAULT_LISTS = "lists/carriers.toml"
_OPTIONS = frozenset({"lists", "patterns", "max_decoded", "max_text"})
_MAX_FIELD = 32_768  # characters kept of any string field
_MAX_META = 2_000
_SNIPPET = 160


@dataclass(frozen=True)
class LnkRules:
    interpreters: frozenset[str]
    decoy_icon_files: frozenset[str]
    icon_libraries: frozenset[str]
    document_extensions: frozenset[str]
    explorer_visible: int = 260
    padding_run: int = 20


def _names(data: Mapping[str, Any], key: str, path: object) -> frozenset[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: [lnk] {key} must be a list of non-empty strings")
    return frozenset(v.lower() for v in value)


def load_lnk_rules(path: Any) -> LnkRules:
    data = read_toml(path).get("lnk")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: missing [lnk] table")
    known = {"interpreters", "decoy_icon_files", "icon_libraries", "document_extensions"}
    check_options(data, known | {"explorer_visible", "padding_run"}, f"{path} [lnk]")
    ints = {}
    for key, default in (("explorer_visible", 260), ("padding_run", 20)):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{path}: [lnk] {key} must be a positive integer")
        ints[key] = value
    return LnkRules(
        interpreters=_names(data, "interpreters", path),
        decoy_icon_files=_names(data, "decoy_icon_files", path),
        icon_libraries=_names(data, "icon_libraries", path),
        document_extensions=_names(data, "document_extensions", path),
        **ints,
    )


@dataclass(frozen=True)
class LnkFacts:
    """What a shortcut says, as text (every field bounded)."""

    target: str
    arguments: str
    icon_location: str
    icon_index: int
    working_dir: str
    relative_path: str
    machine_id: str
    window_style: str

    def meta(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for key in ("target", "arguments", "icon_location", "working_dir", "relative_path", "machine_id"):
            value = getattr(self, key)
            if value:
                out[key] = escape_controls(value[:_MAX_META])
        if self.icon_location:
            out["icon_index"] = self.icon_index
        if self.window_style:
            out["window_style"] = self.window_style
        return out


def _text(value: object) -> str:
    return value[:_MAX_FIELD] if isinstance(value, str) else ""


def read_lnk(data: bytes) -> LnkFacts:
    """Parse a shortcut with LnkParse3; raises ValueError (with the library's complaint) when it cannot."""
    import LnkParse3

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns (to stderr) about every malformed block it skips
            parsed = LnkParse3.lnk_file(indata=data)
            info: dict[str, Any] = parsed.get_json()
    except Exception as exc:  # the library raises anything on crafted input
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    header = info.get("header") or {}
    link_info = info.get("link_info") or {}
    strings = info.get("data") or {}
    extra = info.get("extra") or {}
    env = extra.get("ENVIRONMENTAL_VARIABLES_LOCATION_BLOCK") or {}
    icon_block = extra.get("ICON_LOCATION_BLOCK") or {}
    tracker = extra.get("DISTRIBUTED_LINK_TRACKER_BLOCK") or {}
    target = (
        _text(link_info.get("local_base_path")) + _text(link_info.get("common_path_suffix"))
        or _text(env.get("target_unicode"))
        or _text(env.get("target_ansi"))
        or _target_from_items(info.get("target") or {})
        or _text(strings.get("relative_path"))
    )
    icon_index = header.get("icon_index")
    return LnkFacts(
        target=target,
        arguments=_text(strings.get("command_line_arguments")),
        icon_location=_text(strings.get("icon_location"))
        or _text(icon_block.get("target_unicode"))
        or _text(icon_block.get("target_ansi")),
        icon_index=icon_index if isinstance(icon_index, int) else 0,
        working_dir=_text(strings.get("working_directory")),
        relative_path=_text(strings.get("relative_path")),
        machine_id=_text(tracker.get("machine_identifier")),
        window_style=_text(header.get("windowstyle")),
    )


def _target_from_items(target: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for item in target.get("items") or []:
        if not isinstance(item, dict):
            continue
        name = item.get("primary_name") or item.get("volume_name")
        if isinstance(name, str) and name:
            parts.append(name.rstrip("\\"))
    return "\\".join(parts)[:_MAX_FIELD]


_SEP = re.compile(r"[\\/]")


def basename(path: str) -> str:
    """The last component of a Windows path, lower-case, quotes and trailing blanks stripped."""
    return _SEP.split(path.strip().strip('"').rstrip(". "))[-1].lower()


class LnkAnalyzer:
    name = "lnk"
    scope = Scope.ARTIFACT
    accepts = frozenset({"lnk"})
    emits = declared_emits(__name__, "LnkAnalyzer")

    def __init__(self) -> None:
        self._rules: LnkRules | None = None
        self._scanner: ScriptScanner | None = None

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, f"analyzers.{self.name}")
        lists = options.get("lists", DEFAULT_LISTS)
        if not isinstance(lists, str):
            raise ConfigError(f"[analyzers.{self.name}] lists must be a rules path string")
        self._rules = load_lnk_rules(config.rules_path(lists))
        self._scanner, _ = scanner_from_options(config, options, f"analyzers.{self.name}")

    def prepare(self) -> None:
        if self._scanner is not None:
            self._scanner.prepare()

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if self._rules is None or self._scanner is None or not target.readable or not target.data:
            return []
        try:
            facts = read_lnk(target.data)
        except ValueError as exc:
            ctx.note(NoteKind.UNPARSABLE, f"shortcut not parsed: {escape_controls(str(exc))[:200]}")
            return []
        ctx.set_meta("lnk", facts.meta())
        return self._judge(facts, target.id, ctx)

    def _judge(self, facts: LnkFacts, artifact: str, ctx: PluginContext) -> list[Finding]:
        assert self._rules is not None and self._scanner is not None
        rules = self._rules
        findings: list[Finding] = []
        program = basename(facts.target)
        args = facts.arguments
        interpreter = program in rules.interpreters or (
            not program.endswith(".exe") and program + ".exe" in rules.interpreters
        )
        shown_args = escape_controls(" ".join(args.split()))[:_SNIPPET]
        if interpreter:
            evidence = [f"target {escape_controls(facts.target)[:_SNIPPET]}"]
            if args:
                evidence.append(f"arguments: {shown_args}")
            if facts.window_style and facts.window_style not in ("SW_SHOWNORMAL", "SW_NORMAL"):
                evidence.append(f"window {facts.window_style}")
            findings.append(_finding("LNK_SUSPICIOUS_TARGET", artifact, 1.0 if args.strip() else 0.5, evidence))
        hidden: list[str] = []
        if len(args) > rules.explorer_visible:
            hidden.append(f"arguments of {len(args)} characters (Explorer shows {rules.explorer_visible})")
        run = _longest_blank_run(args)
        if run >= rules.padding_run:
            hidden.append(f"a run of {run} blanks inside the arguments")
        if hidden:
            findings.append(_finding("LNK_HIDDEN_ARGUMENTS", artifact, 1.0, hidden))
        if interpreter and facts.icon_location:
            decoy = self._icon_decoy(facts)
            if decoy is not None:
                findings.append(_finding("LNK_ICON_DECOY", artifact, decoy[0], decoy[1]))
        if args.strip():
            scan = self._scanner.scan(f"{facts.target} {args}", ctx.check_deadline, batch=program == "cmd.exe")
            add_url_iocs(ctx, scan.urls)
            findings.extend(script_findings(scan, artifact, self.name, what="shortcut"))
        return findings

    def _icon_decoy(self, facts: LnkFacts) -> tuple[float, list[str]] | None:
        assert self._rules is not None
        icon = basename(facts.icon_location)
        shown = f"icon {escape_controls(facts.icon_location)[:_SNIPPET]},{facts.icon_index}"
        why = f"target {basename(facts.target)}"
        if icon in self._rules.decoy_icon_files:
            return 1.0, [shown, "a document handler's icon", why]
        ext = icon.rsplit(".", 1)[-1] if "." in icon else ""
        if ext in self._rules.document_extensions:
            return 1.0, [shown, f"the icon of a .{ext} file", why]
        if icon in self._rules.icon_libraries:
            return 0.6, [shown, "a system icon library (document and folder icons)", why]
        return None


def _longest_blank_run(text: str) -> int:
    best = run = 0
    for ch in text[:_MAX_FIELD]:
        if ch in " \t\r\n\x0b\x0c\u3000\xa0":
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best


def _finding(fid: str, artifact: str, strength: float, evidence: Iterable[str]) -> Finding:
    return Finding(id=fid, artifact=artifact, analyzer=LnkAnalyzer.name, strength=strength, evidence=tuple(evidence))

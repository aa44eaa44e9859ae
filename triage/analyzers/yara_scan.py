"""YARA_MATCH: our YARA rules (rules/yara/*.yar) and a site's own rule folders, run over every artifact.

Rules are compiled once per Engine, in `setup`: shipped rules first, then `[analyzers.yara] rule_dirs` from the
configuration, then the folders given with `triage scan --rules DIR`. A file that does not compile, a folder with
no rule file, or a public rule without the meta `id`, `severity` and `description` is a ConfigError at start-up
(DESIGN §4: loading fails fast). Private rules are helpers that never match on their own and need no meta.

Every artifact is scanned, whatever its type tags: attachments, archive members, the raw message (a MIME parser
differential must not hide a payload), and the decoded children other analyzers add (VBA source, PDF JavaScript,
RTF objects). Content past `max_scan_size` is not scanned and says so in a `limit_size` Note. Each artifact gets
at most `timeout` seconds (YARA counts whole seconds), never more than the scan has left; running out is a
`timeout` Note.

One finding per matching rule: the evidence names the rule, its meta id, severity and description, and a few of
the matched string identifiers with their offsets; the strength comes from the rule's severity through the
`severity` table in analyzers.toml. The finding id stays YARA_MATCH for every rule (DESIGN §6): gateways and the
batch database key on it, and a rule's meta id in the evidence says which detection it was.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.model import Finding, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["REQUIRED_META", "RuleSet", "YaraAnalyzer", "compile_rules", "rule_files"]

REQUIRED_META = ("id", "severity", "description")
RULE_SUFFIXES = (".yar", ".yara")
SHIPPED_DIR = "yara"
_OPTIONS = ("rule_dirs", "max_scan_size", "timeout", "max_strings", "severity")
_DEFAULT_SEVERITY = {"low": 0.25, "medium": 0.5, "high": 0.8, "critical": 1.0}
_DEFAULT_MAX_SCAN_SIZE = 50 * 1024 * 1024
_DEFAULT_TIMEOUT = 5
_DEFAULT_MAX_STRINGS = 4


@dataclass(frozen=True)
class RuleSet:
    """Compiled rules and where they came from (for messages and measurements)."""

    rules: Any  # yara.Rules
    files: tuple[Path, ...]
    count: int  # public rules


def rule_files(folder: Path) -> list[Path]:
    """The rule files of one folder, sorted so the namespaces (and any error) are the same on every run."""
    if not folder.is_dir():
        raise ConfigError(f"YARA rule folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RULE_SUFFIXES)
    if not files:
        raise ConfigError(f"YARA rule folder {folder} holds no {'/'.join(RULE_SUFFIXES)} file")
    return files


def compile_rules(folders: Sequence[Path], severities: Iterable[str]) -> RuleSet:
    """Compile every rule file of `folders` into one Rules object, checking each public rule's meta."""
    import yara  # heavy: imported once an Engine is built, not when triage is imported

    known = frozenset(severities)
    sources: dict[str, str] = {}
    files: list[Path] = []
    for index, folder in enumerate(folders):
        prefix = "triage" if index == 0 else f"site{index}"
        for path in rule_files(folder):
            namespace = f"{prefix}.{path.stem}"
            if namespace in sources:
                namespace = f"{namespace}.{len(sources)}"
            sources[namespace] = str(path)
            files.append(path)
    try:
        rules = yara.compile(filepaths=sources)
    except yara.Error as exc:  # SyntaxError is a subclass; its message names the file and line
        raise ConfigError(f"YARA rules do not compile: {exc}") from exc
    public = [rule for rule in rules if not rule.is_private]
    if any(_meta_problem(rule.meta, known) for rule in public):
        _raise_meta_problem(files, known)  # compiled rules do not say which file they came from
    return RuleSet(rules=rules, files=tuple(files), count=len(public))


def _raise_meta_problem(files: Sequence[Path], severities: frozenset[str]) -> None:
    import yara

    for path in files:
        try:
            alone = yara.compile(filepath=str(path))
        except yara.Error:  # it may use rules of another file: it compiled with them
            continue
        for rule in alone:
            problem = None if rule.is_private else _meta_problem(rule.meta, severities)
            if problem:
                raise ConfigError(f"{path}: rule {rule.identifier} {problem}")
    raise ConfigError("YARA rules: a rule lacks its meta")  # only if a file changed while we read it


def _meta_problem(meta: Mapping[str, object], severities: frozenset[str]) -> str | None:
    missing = [key for key in REQUIRED_META if not isinstance(meta.get(key), str) or not str(meta.get(key)).strip()]
    if missing:
        return f"lacks meta {', '.join(missing)} (string values)"
    severity = str(meta["severity"]).lower()
    if severity not in severities:
        return f"has severity {meta['severity']!r}; one of {', '.join(sorted(severities))}"
    return None


class YaraAnalyzer:
    name = "yara"
    scope = Scope.ARTIFACT
    accepts = frozenset({"*"})
    emits = declared_emits(__name__, "YaraAnalyzer")

    def __init__(self) -> None:
        self._ruleset: RuleSet | None = None
        self.severity: Mapping[str, float] = dict(_DEFAULT_SEVERITY)
        self.max_scan_size = _DEFAULT_MAX_SCAN_SIZE
        self.timeout = _DEFAULT_TIMEOUT
        self.max_strings = _DEFAULT_MAX_STRINGS

    # -- setup ------------------------------------------------------------------------------------------------
    def setup(self, config: Config) -> None:
        section = "analyzers.yara"
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, section)
        self.severity = _severity_table(options.get("severity", _DEFAULT_SEVERITY), section)
        self.max_scan_size = _positive_int(options, "max_scan_size", _DEFAULT_MAX_SCAN_SIZE, section)
        self.timeout = _positive_int(options, "timeout", _DEFAULT_TIMEOUT, section)
        self.max_strings = _positive_int(options, "max_strings", _DEFAULT_MAX_STRINGS, section)
        site = options.get("rule_dirs", [])
        if not isinstance(site, list) or not all(isinstance(d, str) and d for d in site):
            raise ConfigError(f"[{section}]: rule_dirs must be a list of folder paths")
        folders = [config.rules_path(SHIPPED_DIR)]
        folders += [config.rules_path(d) for d in site]
        folders += list(config.yara_rule_dirs)
        self._ruleset = compile_rules(folders, self.severity)

    @property
    def ruleset(self) -> RuleSet:
        if self._ruleset is None:
            raise RuntimeError("YaraAnalyzer.setup() was not called")
        return self._ruleset

    # Compiled rules are not picklable; a worker process gets them as YARA's own saved form.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        ruleset = state.pop("_ruleset")
        if ruleset is not None:
            buffer = io.BytesIO()
            ruleset.rules.save(file=buffer)
            state["_saved"] = (buffer.getvalue(), ruleset.files, ruleset.count)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_saved", None)
        self.__dict__.update(state)
        self._ruleset = None
        if saved is not None:
            import yara

            data, files, count = saved
            self._ruleset = RuleSet(rules=yara.load(file=io.BytesIO(data)), files=files, count=count)

    # -- analysis ---------------------------------------------------------------------------------------------
    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        import yara  # already loaded by setup: a dict lookup

        data = target.data
        if not target.readable or not data:
            return []
        if len(data) > self.max_scan_size:
            ctx.note(
                NoteKind.LIMIT_SIZE,
                f"YARA scanned the first {self.max_scan_size} of {len(data)} bytes (max_scan_size)",
            )
            data = data[: self.max_scan_size]
        ctx.check_deadline()
        # YARA's timeout is in whole seconds and 0 means none: at least 1, and never past the scan's deadline.
        seconds = max(1, min(self.timeout, math.floor(ctx.remaining_seconds())))
        try:
            matches = self.ruleset.rules.match(data=data, timeout=seconds)
        except yara.TimeoutError:
            ctx.note(NoteKind.TIMEOUT, f"YARA scan stopped after {seconds}s; rules not evaluated in full")
            return []
        except yara.Error as exc:
            ctx.note(NoteKind.UNPARSABLE, f"YARA scan failed: {exc}")
            return []
        decoded = target.artifact.meta.get("decoded")
        findings: list[Finding] = []
        for match in matches:
            ctx.check_deadline()
            findings.append(self._finding(target, match, decoded if isinstance(decoded, str) else None))
        return findings

    def _finding(self, target: ArtifactView, match: Any, decoded: str | None) -> Finding:
        meta = match.meta
        severity = str(meta.get("severity", "")).lower()
        evidence = [
            _clean(f"rule {match.rule} (id {meta.get('id', '?')}, {severity}): {meta.get('description', '')}"),
        ]
        shown = _strings(match.strings, self.max_strings)
        if shown:
            evidence.append(shown)
        if decoded:
            evidence.append(_clean(f"in decoded {decoded} content"))
        if not match.namespace.startswith("triage."):
            evidence.append(_clean(f"site rule ({match.namespace})"))
        return Finding(
            id="YARA_MATCH",
            artifact=target.id,
            analyzer=self.name,
            strength=self.severity.get(severity, 1.0),
            evidence=tuple(evidence),
        )


def _strings(strings: Sequence[Any], limit: int) -> str:
    """`$id at 0xOFFSET` for the first matched instance of the first `limit` strings."""
    parts: list[str] = []
    for item in strings[:limit]:
        if not item.instances:
            continue
        first = item.instances[0]
        text = f"{item.identifier} at {first.offset:#x}"
        key = getattr(first, "xor_key", 0)
        if key:
            text += f" (xor {key:#04x})"
        if len(item.instances) > 1:
            text += f" ×{len(item.instances)}"
        parts.append(text)
    if len(strings) > limit:
        parts.append(f"+{len(strings) - limit} more")
    return _clean("strings: " + ", ".join(parts)) if parts else ""


def _clean(text: str) -> str:
    return escape_controls(text)


def _severity_table(value: object, section: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"[{section}]: severity must be a table of name = strength")
    table: dict[str, float] = {}
    for key, strength in value.items():
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 < strength <= 1:
            raise ConfigError(f"[{section}]: severity.{key} must be a number in (0, 1]")
        table[str(key).lower()] = float(strength)
    return table


def _positive_int(options: Mapping[str, Any], key: str, default: int, section: str) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"[{section}]: {key} must be a positive integer")
    return value

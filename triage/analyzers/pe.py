"""What a Windows executable is and what it can do, read with pefile from the bytes in memory (never run).

Meta (`meta.pe` on the artifact): kind (exe/dll), bits, machine, subsystem, dotnet, compile timestamp, entry
point, sections (name, sizes, entropy, rwx), import counts and imphash, overlay offset/size, Authenticode
presence (the certificate table's place; it is not verified), version-info strings, icons (count, sizes, MD5 of
the largest), archives and executables carried inside (`embedded`), an NSIS or Inno Setup installer's data
(`overlay.installer`, `installer`: an installer's overlay is its payload, not a trick), and what string
extraction scanned.

Findings:
- PE_SUSPICIOUS_IMPORTS: imports grouped by what they enable (rules/lists/pe_imports.toml: network, download,
  execution, injection, host discovery, persistence, keylogging, anti-analysis); the strength is the best of the
  matched groups and combinations (host discovery + network = sends host name, IP and OS) plus 0.1 per further
  group. Not for .NET assemblies (they import only mscoree.dll; their API use is invisible here).
- PE_DYNAMIC_IMPORTS: a handful of imports, among them a loader and GetProcAddress: the real imports are
  resolved at run time (packers, shellcode loaders).
- PE_PACKED: a packer's section name (UPX0/UPX1, .aspack, MPRESS...) 1.0; an executable section with entropy over
  `entropy_threshold` 0.8 (0.5 for .NET, whose resources live in .text); an executable section empty on disk but
  large in memory 0.7; the entry point in a writable and executable section 0.5. +0.1 per further sign.
- PE_TIMESTAMP_ANOMALY: the compile timestamp is in the future (1.0), zero (0.6) or before 2000 (0.6). Delphi's
  fixed 1992-06-19 stamp is a compiler quirk, and a reproducible build's stamp is a hash (a REPRO debug entry):
  neither fires; meta says which.
- PE_SFX_ARCHIVE: a zip/7z/RAR/cab archive in the overlay or a resource (triage.unpack.pe_overlay finds it and
  the unpacker hands it over as a child).
- PE_EMBEDDED_EXECUTABLE: another PE at the start of a resource (a dropper's payload) or of the overlay (a
  binder); handed over as a child too.
- PE_VERSION_NAME_MISMATCH: the version info's OriginalFilename names a Windows program (svchost.exe...) the
  attachment is not (1.0), or neither it nor InternalName matches the attachment's name (0.5, weak: lures are
  renamed).
- PE_NETWORK_INDICATORS: URLs in the file's strings (1.0), public IPv4 addresses (0.7: a product's version
  string can look like one), or only domains (0.5); hosts of benign_hosts (XML namespaces, CA servers) do not
  count. Not scanned: the certificate table, archives handed to the unpacker, and incompressible blocks (packed
  or encrypted bytes). Every indicator goes to the report's IOCs.
- PE_BEACON_FORMAT: a format string reporting host facts, like `Name:%s IP:%s OS:%s` (1.0 with three kinds of
  facts, 0.7 with two).

pefile on crafted files can raise anything: loading failures become an `unparsable` note, and each later step
that fails adds its own note and lets the others run. Options ([analyzers.pe], all optional): `imports` (rules
path), `entropy_threshold` (7.2), `min_entropy_bytes` (1024), `max_string_bytes` (8 MiB), `max_strings`
(50000), `sfx_search_bytes` (1 MiB).
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.model import Finding, JsonValue, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, DeadlineExceeded, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options, read_toml
from triage.strings import (
    beacon_formats,
    compressible_regions,
    extract_strings,
    find_indicators,
    subtract_spans,
)
from triage.unpack.pe_overlay import (
    ARCHIVE_KINDS,
    DEFAULT_SEARCH_BYTES,
    EXECUTABLE_KINDS,
    EmbeddedFile,
    PeError,
    certificate_span,
    find_embedded,
    load_pe,
    overlay_span,
    resource_leaves,
)

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["ImportRules", "ImportVerdict", "PeAnalyzer", "classify_imports", "load_import_rules"]

DEFAULT_IMPORTS = "lists/pe_imports.toml"
DEFAULT_ENTROPY = 7.2
DEFAULT_MIN_ENTROPY_BYTES = 1024
DEFAULT_MAX_STRING_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_STRINGS = 50_000
_OPTIONS = frozenset(
    {"imports", "entropy_threshold", "min_entropy_bytes", "max_string_bytes", "max_strings", "sfx_search_bytes"}
)
_DIRECTORIES = (
    "IMAGE_DIRECTORY_ENTRY_IMPORT",
    "IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT",
    "IMAGE_DIRECTORY_ENTRY_RESOURCE",
    "IMAGE_DIRECTORY_ENTRY_DEBUG",
)

_DLL_FLAG = 0x2000
_PE32_PLUS = 0x20B
_CLR = 14
_SCN_EXECUTE = 0x20000000
_SCN_WRITE = 0x80000000
_SCN_READ = 0x40000000
_SCN_CODE = 0x00000020
_DEBUG_REPRO = 16
_NSIS_MAGIC = b"\xef\xbe\xad\xdeNullsoftInst"  # an NSIS installer's data header, 4 bytes into the overlay
_INNO_MAGIC = b"rDlPtS"  # Inno Setup's loader offset table, RCDATA #11111
_DELPHI_STAMP = 0x2A425E19  # 1992-06-19 22:22:17 UTC, written by Delphi's linker up to Delphi 2006
_YEAR_2000 = 946_684_800
_FUTURE_SLACK = 86_400  # a day: build machines with skewed clocks
_EMPTY_RAW_VIRTUAL = 64 * 1024  # an executable section this large in memory with nothing on disk
_MAX_SECTIONS_META = 32
_ENTROPY_SAMPLES = 16  # a large section's entropy is measured on this many blocks…
_ENTROPY_BLOCK = 16 * 1024  # …of this size, spread evenly
_MAX_IMPORTS = 10_000
_MAX_GROUP_EVIDENCE = 6
_MAX_IOC_EVIDENCE = 10
_MAX_ICON_GROUP_ENTRIES = 64
_VERSION_KEYS = (
    "OriginalFilename",
    "InternalName",
    "CompanyName",
    "FileDescription",
    "ProductName",
    "FileVersion",
    "ProductVersion",
)
_MAX_VERSION_VALUE = 200


# -- rules -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Names:
    """Function names, exact or by prefix ("CreateProcess*"), compared in lower case."""

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> _Names:
        exact = frozenset(p.lower() for p in patterns if not p.endswith("*"))
        prefixes = tuple(p[:-1].lower() for p in patterns if p.endswith("*"))
        return cls(exact, prefixes)

    def matches(self, name: str) -> bool:
        low = name.lower()
        return low in self.exact or low.startswith(self.prefixes)


@dataclass(frozen=True)
class ImportGroup:
    id: str
    says: str
    strength: float
    min_functions: int
    functions: _Names
    dlls: frozenset[str]


@dataclass(frozen=True)
class Combination:
    groups: tuple[str, ...]
    strength: float
    says: str


@dataclass(frozen=True)
class ImportRules:
    """rules/lists/pe_imports.toml, validated."""

    groups: tuple[ImportGroup, ...]
    combinations: tuple[Combination, ...] = ()
    dynamic_max: int = 10
    loaders: _Names = field(default_factory=_Names)
    resolvers: _Names = field(default_factory=_Names)
    packers: Mapping[str, str] = field(default_factory=dict)
    masquerade: frozenset[str] = frozenset()
    benign_domains: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ImportVerdict:
    """Which groups the imports match (group id -> matched names), and what that is worth."""

    matched: Mapping[str, tuple[str, ...]]
    combinations: tuple[Combination, ...]
    strength: float
    evidence: tuple[str, ...]


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number")
    return float(value)


def load_import_rules(path: Any) -> ImportRules:
    """Read and validate the import groups, combinations, packer names and benign hosts; ConfigError when wrong."""
    doc = read_toml(path)
    groups: list[ImportGroup] = []
    for gid, body in (doc.get("groups") or {}).items():
        where = f"{path}: [groups.{gid}]"
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a table")
        check_options(body, {"says", "strength", "min_functions", "functions", "dlls", "fires", "quiet"}, where)
        strength = _number(body.get("strength", 0.3), f"{where} strength")
        minimum = int(_number(body.get("min_functions", 1), f"{where} min_functions"))
        if not 0 < strength <= 1 or minimum < 1:
            raise ConfigError(f"{where}: strength must be in (0, 1] and min_functions at least 1")
        groups.append(
            ImportGroup(
                id=gid,
                says=str(body.get("says", gid)),
                strength=strength,
                min_functions=minimum,
                functions=_Names.of(_strings(body.get("functions", []), f"{where} functions")),
                dlls=frozenset(d.lower() for d in _strings(body.get("dlls", []), f"{where} dlls")),
            )
        )
    known = {g.id for g in groups}
    combinations: list[Combination] = []
    for index, body in enumerate(doc.get("combinations") or []):
        where = f"{path}: [[combinations]] #{index + 1}"
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a table")
        check_options(body, {"groups", "strength", "says"}, where)
        members = _strings(body.get("groups", []), f"{where} groups")
        unknown = sorted(set(members) - known)
        if len(members) < 2 or unknown:
            raise ConfigError(f"{where}: needs two or more known groups (unknown: {', '.join(unknown) or 'none'})")
        combinations.append(
            Combination(tuple(members), _number(body.get("strength", 1.0), f"{where} strength"), str(body["says"]))
        )
    dynamic = doc.get("dynamic") or {}
    packers: dict[str, str] = {}
    for index, entry in enumerate((doc.get("packers") or {}).get("sections", [])):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("packer"), str)
        ):
            raise ConfigError(f"{path}: [packers] sections #{index + 1}: expected {{ name = ..., packer = ... }}")
        packers[entry["name"]] = entry["packer"]
    return ImportRules(
        groups=tuple(groups),
        combinations=tuple(combinations),
        dynamic_max=int(_number(dynamic.get("max_functions", 10), f"{path}: [dynamic] max_functions")),
        loaders=_Names.of(_strings(dynamic.get("loaders", []), f"{path}: [dynamic] loaders")),
        resolvers=_Names.of(_strings(dynamic.get("resolvers", []), f"{path}: [dynamic] resolvers")),
        packers=packers,
        masquerade=frozenset(
            n.lower() for n in _strings((doc.get("masquerade") or {}).get("names", []), f"{path}: [masquerade]")
        ),
        benign_domains=frozenset(
            d.lower() for d in _strings((doc.get("benign_hosts") or {}).get("domains", []), f"{path}: [benign_hosts]")
        ),
    )


def classify_imports(rules: ImportRules, imports: Sequence[tuple[str, str]]) -> ImportVerdict:
    """Group `imports` ((dll, function) pairs; function may be "" for an unnamed ordinal) by what they enable."""
    matched: dict[str, tuple[str, ...]] = {}
    for group in rules.groups:
        hits: dict[str, None] = {}
        for dll, function in imports:
            if function and group.functions.matches(function):
                hits.setdefault(function)
            elif dll.lower() in group.dlls:
                hits.setdefault(dll.lower())
        if len(hits) >= group.min_functions:
            matched[group.id] = tuple(hits)
    if not matched:
        return ImportVerdict({}, (), 0.0, ())
    by_id = {g.id: g for g in rules.groups}
    combos = tuple(c for c in rules.combinations if all(g in matched for g in c.groups))
    best = max([by_id[g].strength for g in matched] + [c.strength for c in combos])
    strength = min(1.0, best + 0.1 * (len(matched) - 1))
    evidence = [c.says for c in combos]
    for gid, names in matched.items():
        shown = ", ".join(names[:_MAX_GROUP_EVIDENCE]) + (", …" if len(names) > _MAX_GROUP_EVIDENCE else "")
        evidence.append(f"{gid.replace('_', ' ')} ({by_id[gid].says}): {shown}")
    return ImportVerdict(matched, combos, round(strength, 2), tuple(evidence))


# -- the analyzer ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    rules: ImportRules
    entropy_threshold: float = DEFAULT_ENTROPY
    min_entropy_bytes: int = DEFAULT_MIN_ENTROPY_BYTES
    max_string_bytes: int = DEFAULT_MAX_STRING_BYTES
    max_strings: int = DEFAULT_MAX_STRINGS
    sfx_search_bytes: int = DEFAULT_SEARCH_BYTES


class PeAnalyzer:
    name = "pe"
    scope = Scope.ARTIFACT
    accepts = frozenset({"pe"})
    emits = declared_emits(__name__, "PeAnalyzer")

    def __init__(self) -> None:
        self._settings: _Settings | None = None

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        section = f"analyzers.{self.name}"
        check_options(options, _OPTIONS, section)
        imports = options.get("imports", DEFAULT_IMPORTS)
        if not isinstance(imports, str):
            raise ConfigError(f"[{section}] imports: expected a rules path")

        def positive(key: str, default: float) -> float:
            value = _number(options.get(key, default), f"[{section}] {key}")
            if value <= 0:
                raise ConfigError(f"[{section}] {key}: must be positive")
            return value

        self._settings = _Settings(
            rules=load_import_rules(config.rules_path(imports)),
            entropy_threshold=positive("entropy_threshold", DEFAULT_ENTROPY),
            min_entropy_bytes=int(positive("min_entropy_bytes", DEFAULT_MIN_ENTROPY_BYTES)),
            max_string_bytes=int(positive("max_string_bytes", DEFAULT_MAX_STRING_BYTES)),
            max_strings=int(positive("max_strings", DEFAULT_MAX_STRINGS)),
            sfx_search_bytes=int(positive("sfx_search_bytes", DEFAULT_SEARCH_BYTES)),
        )

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        settings = self._settings
        if settings is None:
            raise RuntimeError("PeAnalyzer.setup() was not called")
        data = target.data
        if not data or not target.readable:
            return []
        try:
            pe = load_pe(data, _DIRECTORIES)
        except PeError as exc:
            ctx.note(NoteKind.UNPARSABLE, f"not a readable PE: {exc}")
            return []
        run = _Run(settings, target, ctx, pe, data)
        run.all()
        ctx.set_meta("pe", run.meta)
        return []


class _Run:
    """One analysis of one PE: each step reads the parsed file and adds meta and findings."""

    def __init__(self, settings: _Settings, target: ArtifactView, ctx: PluginContext, pe: Any, data: bytes) -> None:
        self.s = settings
        self.target = target
        self.ctx = ctx
        self.pe = pe
        self.data = data
        self.meta: dict[str, JsonValue] = {}
        self.dotnet = False
        self.versions: set[str] = set()  # version numbers in the version info: not IP addresses
        self.embedded: tuple[EmbeddedFile, ...] = ()

    def all(self) -> None:
        for step in (
            self.header,
            self.timestamp,
            self.sections,
            self.imports,
            self.resources,
            self.overlay,
            self.strings,
        ):
            self.ctx.check_deadline()
            try:
                step()
            except DeadlineExceeded:
                raise
            except Exception as exc:  # pefile structures on crafted input: one step lost, not the analysis
                name = getattr(step, "__name__", "step")
                self.ctx.note(NoteKind.UNPARSABLE, f"PE {name}: {type(exc).__name__}: {str(exc)[:200]}")

    # -- steps -------------------------------------------------------------------------------------------------
    def header(self) -> None:
        import pefile

        pe = self.pe
        characteristics = int(pe.FILE_HEADER.Characteristics)
        optional = pe.OPTIONAL_HEADER
        self.meta["kind"] = "dll" if characteristics & _DLL_FLAG else "exe"
        self.meta["bits"] = 64 if int(optional.Magic) == _PE32_PLUS else 32
        machine = pefile.MACHINE_TYPE.get(int(pe.FILE_HEADER.Machine))
        self.meta["machine"] = machine.removeprefix("IMAGE_FILE_MACHINE_") if machine else hex(pe.FILE_HEADER.Machine)
        subsystem = pefile.SUBSYSTEM_TYPE.get(int(optional.Subsystem))
        self.meta["subsystem"] = subsystem.removeprefix("IMAGE_SUBSYSTEM_") if subsystem else str(optional.Subsystem)
        directories = optional.DATA_DIRECTORY
        clr = directories[_CLR] if len(directories) > _CLR else None
        self.dotnet = bool(clr is not None and clr.VirtualAddress and clr.Size)
        self.meta["dotnet"] = self.dotnet
        self.meta["entry_point"] = hex(int(optional.AddressOfEntryPoint))
        cert = certificate_span(pe, len(self.data))
        self.meta["authenticode"] = (
            {"present": True, "offset": cert[0], "size": cert[1] - cert[0]} if cert else {"present": False}
        )

    def timestamp(self) -> None:
        stamp = int(self.pe.FILE_HEADER.TimeDateStamp)
        self.meta["timestamp_raw"] = stamp
        if stamp:
            self.meta["timestamp"] = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        repro = any(
            int(getattr(entry.struct, "Type", -1)) == _DEBUG_REPRO
            for entry in getattr(self.pe, "DIRECTORY_ENTRY_DEBUG", ())
        )
        if repro:
            self.meta["timestamp_note"] = "reproducible build: the stamp is a hash, not a date"
            return
        if stamp == _DELPHI_STAMP:
            self.meta["timestamp_note"] = "Delphi linker's fixed stamp (1992-06-19), not a build date"
            return
        shown = self.meta.get("timestamp", "0")
        if stamp == 0:
            self._emit("PE_TIMESTAMP_ANOMALY", ["compile timestamp is zero (erased)"], 0.6)
        elif stamp > time.time() + _FUTURE_SLACK:
            self._emit("PE_TIMESTAMP_ANOMALY", [f"compile timestamp {shown} is in the future"], 1.0)
        elif stamp < _YEAR_2000:
            self._emit("PE_TIMESTAMP_ANOMALY", [f"compile timestamp {shown} is before 2000"], 0.6)

    def sections(self) -> None:
        pe = self.pe
        entry = int(pe.OPTIONAL_HEADER.AddressOfEntryPoint)
        signs: list[tuple[float, str]] = []
        packers: dict[str, list[str]] = {}
        listed: list[JsonValue] = []
        for index, section in enumerate(pe.sections):
            self.ctx.check_deadline()
            name = bytes(section.Name).rstrip(b"\x00").decode("latin-1")
            shown = escape_controls(name)
            flags = int(section.Characteristics)
            executable = bool(flags & (_SCN_EXECUTE | _SCN_CODE))
            writable = bool(flags & _SCN_WRITE)
            raw, virtual = int(section.SizeOfRawData), int(section.Misc_VirtualSize)
            entropy = round(_entropy(section.get_data()), 3) if raw else 0.0
            if index < _MAX_SECTIONS_META:
                rwx = ("r" if flags & _SCN_READ else "-") + ("w" if writable else "-") + ("x" if executable else "-")
                listed.append({"name": shown, "raw_size": raw, "virtual_size": virtual, "entropy": entropy, "rwx": rwx})
            packer = self.s.rules.packers.get(name)
            if packer:
                packers.setdefault(packer, []).append(shown)
            if executable and raw >= self.s.min_entropy_bytes and entropy > self.s.entropy_threshold:
                why = f"executable section {shown} has entropy {entropy:.2f} (compressed or encrypted code)"
                signs.append((0.5, why + "; .NET keeps resources there") if self.dotnet else (0.8, why))
            if executable and raw == 0 and virtual >= _EMPTY_RAW_VIRTUAL:
                signs.append((0.7, f"executable section {shown} is empty on disk and {virtual} bytes in memory"))
            start = int(section.VirtualAddress)
            if executable and writable and start <= entry < start + max(virtual, raw):
                signs.append((0.5, f"entry point in writable and executable section {shown}"))
        for packer, names in packers.items():
            signs.insert(0, (1.0, f"section{'s' if len(names) > 1 else ''} {', '.join(names)}: {packer}"))
        self.meta["sections"] = listed
        if len(pe.sections) > _MAX_SECTIONS_META:
            self.meta["sections_total"] = len(pe.sections)
        if signs:
            best = max(s for s, _ in signs)
            self._emit("PE_PACKED", [e for _, e in signs], min(1.0, best + 0.1 * (len(signs) - 1)))

    def imports(self) -> None:
        import pefile

        pairs: list[tuple[str, str]] = []
        dlls: dict[str, None] = {}
        for attr in ("DIRECTORY_ENTRY_IMPORT", "DIRECTORY_ENTRY_DELAY_IMPORT"):
            for entry in getattr(self.pe, attr, ()):
                self.ctx.check_deadline()
                raw_dll = entry.dll if isinstance(entry.dll, bytes) else str(entry.dll or "").encode()
                dll = raw_dll.decode("latin-1").lower()
                dlls.setdefault(dll)
                for imp in entry.imports:
                    if len(pairs) >= _MAX_IMPORTS:
                        break
                    name = imp.name
                    if not name and imp.ordinal is not None:
                        name = pefile.ordlookup.ordLookup(raw_dll.lower(), int(imp.ordinal), make_name=False)
                    pairs.append((dll, name.decode("latin-1") if isinstance(name, bytes) else (name or "")))
        self.meta["imports"] = {"dlls": len(dlls), "functions": len(pairs)}
        try:
            imphash = self.pe.get_imphash()
        except Exception:  # an ordinal pefile cannot name: no imphash, the rest stands
            imphash = ""
        if imphash:
            self.meta["imphash"] = imphash
        if self.dotnet or not pairs:
            return
        rules = self.s.rules
        verdict = classify_imports(rules, pairs)
        if verdict.matched:
            self._emit("PE_SUSPICIOUS_IMPORTS", verdict.evidence, verdict.strength)
        named = [f for _, f in pairs if f]
        loaders = [f for f in named if rules.loaders.matches(f)]
        resolvers = [f for f in named if rules.resolvers.matches(f)]
        if len(pairs) <= rules.dynamic_max and loaders and resolvers:
            self._emit(
                "PE_DYNAMIC_IMPORTS",
                [
                    f"only {len(pairs)} imported function(s) from {len(dlls)} DLL(s), among them "
                    f"{loaders[0]} and {resolvers[0]}: the rest is resolved at run time"
                ],
            )

    def resources(self) -> None:
        icons = 0
        groups: list[tuple[int, int]] = []
        largest = (0, 0)
        version = self._version_info()
        for leaf in resource_leaves(self.pe, len(self.data), self.ctx.check_deadline):
            if leaf.type_name == "RT_ICON":
                icons += 1
                if leaf.size > largest[1]:
                    largest = (leaf.offset, leaf.size)
            elif leaf.type_name == "RT_GROUP_ICON":
                groups.extend(_icon_sizes(self.data[leaf.offset : leaf.offset + leaf.size]))
        if icons:
            icon_meta: dict[str, JsonValue] = {
                "count": icons,
                "sizes": [f"{w}x{h}" for w, h in sorted(set(groups))][:_MAX_ICON_GROUP_ENTRIES],
            }
            start, size = largest
            icon_meta["largest_md5"] = hashlib.md5(self.data[start : start + size], usedforsecurity=False).hexdigest()
            self.meta["icons"] = icon_meta
        for key in ("FileVersion", "ProductVersion"):
            value = version.get(key, "").replace(",", ".").replace(" ", "")
            if value:
                self.versions.add(value.split("(")[0])
        for fixed in getattr(self.pe, "VS_FIXEDFILEINFO", None) or ():
            for ms, ls in (
                (fixed.FileVersionMS, fixed.FileVersionLS),
                (fixed.ProductVersionMS, fixed.ProductVersionLS),
            ):
                self.versions.add(f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}")
        if version:
            self.meta["version_info"] = dict(version)
            self._name_mismatch(version)

    def overlay(self) -> None:
        span = overlay_span(self.pe, len(self.data))
        if span is not None:
            overlay: dict[str, JsonValue] = {"offset": span[0], "size": span[1] - span[0]}
            if self.data[span[0] + 4 : span[0] + 20] == _NSIS_MAGIC:
                overlay["installer"] = "NSIS"
            self.meta["overlay"] = overlay
        if any(
            leaf.type_name == "RT_RCDATA" and leaf.name == "11111" and self.data.startswith(_INNO_MAGIC, leaf.offset)
            for leaf in resource_leaves(self.pe, len(self.data), self.ctx.check_deadline)
        ):
            self.meta["installer"] = "Inno Setup"
        found = find_embedded(self.pe, self.data, self.ctx.check_deadline, search_bytes=self.s.sfx_search_bytes)
        self.embedded = found
        if not found:
            return
        self.meta["embedded"] = [
            {"kind": a.kind, "source": a.source, "offset": a.offset, "size": a.size} for a in found
        ]
        archives = [
            f"{a.kind} archive in the {a.where} ({a.size} bytes{', truncated' if a.truncated else ''})"
            for a in found
            if a.kind in ARCHIVE_KINDS
        ]
        if archives:
            self._emit("PE_SFX_ARCHIVE", archives)
        executables = [
            f"{a.kind.upper()} in the {a.where} ({a.size} bytes)" for a in found if a.kind in EXECUTABLE_KINDS
        ]
        if executables:
            self._emit("PE_EMBEDDED_EXECUTABLE", executables)

    def strings(self) -> None:
        size = len(self.data)
        cert = certificate_span(self.pe, size)
        # Left out: the certificate table (CA URLs in every signed file), archives the unpacker hands over (they
        # are analysed as children), and incompressible blocks (packed or encrypted bytes hold only noise).
        holes = [cert] if cert else []
        holes += [(a.offset, a.offset + a.size) for a in self.embedded]
        regions = compressible_regions(
            self.data,
            subtract_spans([(0, size)], holes),
            max_bytes=self.s.max_string_bytes,
            check=self.ctx.check_deadline,
        )
        readable = sum(e - s for s, e in regions)
        found = extract_strings(
            self.data,
            max_bytes=self.s.max_string_bytes,
            max_strings=self.s.max_strings,
            regions=regions,
            check=self.ctx.check_deadline,
        )
        texts = [f.text for f in found]
        string_meta: dict[str, JsonValue] = {
            "scanned_bytes": min(readable, self.s.max_string_bytes),
            "count": len(found),
        }
        if readable >= self.s.max_string_bytes or len(found) >= self.s.max_strings:
            string_meta["truncated"] = True
        else:
            string_meta["skipped_bytes"] = size - readable
        indicators = find_indicators(
            texts, ignore_domains=self.s.rules.benign_domains, versions=self.versions, check=self.ctx.check_deadline
        )
        if indicators.skipped:
            string_meta["skipped_ips"] = [f"{s.value} ({s.reason})" for s in indicators.skipped[:20]]
        if indicators.ignored:
            string_meta["ignored_hosts"] = list(indicators.ignored[:20])
        self.meta["strings"] = string_meta
        if indicators:
            for url in indicators.urls:
                self.ctx.add_ioc("urls", url)
            for domain in indicators.domains:
                self.ctx.add_ioc("domains", domain)
            for ip in indicators.ips:
                self.ctx.add_ioc("ips", ip)
            shown = (
                [f"URL {u}" for u in indicators.urls]
                + [f"IP {i}" for i in indicators.ips]
                + [f"domain {d}" for d in indicators.domains]
            )
            evidence = [escape_controls(e) for e in shown[:_MAX_IOC_EVIDENCE]]
            if len(shown) > _MAX_IOC_EVIDENCE:
                evidence.append(f"{len(shown) - _MAX_IOC_EVIDENCE} more in the IOCs")
            strength = 1.0 if indicators.urls else 0.7 if indicators.ips else 0.5
            self._emit("PE_NETWORK_INDICATORS", evidence, strength)
        beacons = beacon_formats(texts, check=self.ctx.check_deadline)
        if beacons:
            evidence = [
                f'format string "{escape_controls(b.text[:120])}" reports {", ".join(b.kinds)}' for b in beacons
            ]
            strength = 1.0 if max(len(b.kinds) for b in beacons) >= 3 else 0.7
            self._emit("PE_BEACON_FORMAT", evidence[:5], strength)

    # -- helpers -----------------------------------------------------------------------------------------------
    def _emit(self, finding_id: str, evidence: Sequence[str], strength: float = 1.0) -> None:
        self.ctx.emit(finding_id, list(evidence), strength=round(strength, 2))

    def _version_info(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for info in getattr(self.pe, "FileInfo", None) or ():
            for item in info if isinstance(info, list) else [info]:
                if getattr(item, "Key", b"") != b"StringFileInfo":
                    continue
                for table in getattr(item, "StringTable", ()):
                    for key, value in getattr(table, "entries", {}).items():
                        text_key = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                        if text_key in _VERSION_KEYS and text_key not in out:
                            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                            out[text_key] = escape_controls(text.strip("\x00 "))[:_MAX_VERSION_VALUE]
        return out

    def _name_mismatch(self, version: Mapping[str, str]) -> None:
        attached = self.target.name
        original = version.get("OriginalFilename", "")
        if not attached or not original or self.target.artifact.meta.get("embedded_in"):
            return  # no name, or one we gave a payload carried inside another PE
        attached_base = _basename(attached)
        claimed = {_stem(original), _stem(version.get("InternalName", ""))} - {""}
        shown = escape_controls(attached.replace("\\", "/").rsplit("/", 1)[-1])
        if _basename(original) in self.s.rules.masquerade and _basename(original) != attached_base:
            self._emit(
                "PE_VERSION_NAME_MISMATCH",
                [f'version info claims to be the Windows program "{original}"', f'attached as "{shown}"'],
            )
        elif claimed and _stem(attached_base) not in claimed:
            self._emit(
                "PE_VERSION_NAME_MISMATCH",
                [f'version info OriginalFilename "{original}"', f'attached as "{shown}"'],
                0.5,
            )


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()


def _stem(name: str) -> str:
    base = _basename(name)
    return base.split(".", 1)[0] if base else ""


def _entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte; of evenly spaced samples when the data is large (counting every byte of
    a 50 MiB section would take seconds, and packed code is uniformly random anyway)."""
    if not data:
        return 0.0
    if len(data) > _ENTROPY_SAMPLES * _ENTROPY_BLOCK:
        step = len(data) // _ENTROPY_SAMPLES
        data = b"".join(data[i * step : i * step + _ENTROPY_BLOCK] for i in range(_ENTROPY_SAMPLES))
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in Counter(data).values())


def _icon_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of each image a GRPICONDIR lists (0 in the header means 256)."""
    if len(data) < 6:
        return []
    _reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    if kind != 1:
        return []
    out: list[tuple[int, int]] = []
    for index in range(min(count, _MAX_ICON_GROUP_ENTRIES)):
        at = 6 + index * 14
        if at + 14 > len(data):
            break
        width, height = data[at] or 256, data[at + 1] or 256
        out.append((width, height))
    return out

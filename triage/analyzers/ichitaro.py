"""Ichitaro documents (.jtd/.jtt/.jtdc), and shellcode and exploit objects in any OLE document.

Ichitaro, the Japanese word processor, saves OLE compound files; targeted attacks in Japan sent .jtd files
whose exploits carried an executable, often single-byte-XOR encoded, inside an extra stream, with shellcode
to decode and run it. The streams are read with olefile (imported on first use), each bounded by
``max_stream``; the known stream names come from rules/lists/carriers.toml [ichitaro].

- ICHITARO_EMBEDDED_EXECUTABLE (Ichitaro only): "MZ" followed by the DOS stub message inside a stream, or the
  stub message XOR-encoded with one byte (the key is reported).
- ICHITARO_UNUSUAL_STREAM (Ichitaro only): stream names Ichitaro does not write (0.5), or a stream far larger
  than the document's text (0.7).
- SHELLCODE_PATTERN (every OLE document but installers and Outlook messages): a NOP sled, GetPC (``call $+5;
  pop reg`` or ``fldz; fnstenv``), PEB access (``fs:[30h]``, ``gs:[60h]``). In an Ichitaro document one idiom
  is 0.7 and two are 1.0; in other documents a NOP run alone is ignored (pictures hold 0x90 runs), one other
  idiom is 0.5 and two are 1.0.
- DOC_RTF_EXPLOIT (every OLE file): the file is an embedded object whose root CLSID oletools ties to a CVE
  (Equation Editor, OLE2Link, MSCOMCTL…: the oleObject*.bin of an exploit .pptx/.docx), 1.0; or a document
  with an "Equation Native" stream in its object pool, 0.7. The RTF route to the same classes is
  triage.unpack.rtf.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.model import Finding, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options, read_toml
from triage.unpack.rtf import exploit_reason

if TYPE_CHECKING:
    from pathlib import Path

    from triage.config import Config

__all__ = ["IchitaroAnalyzer", "IchitaroRules", "find_embedded_pe", "load_ichitaro_rules", "shellcode_idioms"]

DEFAULT_LISTS = "lists/carriers.toml"
_OPTIONS = frozenset({"lists"})
_MAX_STREAMS = 4096
_STUB = b"This program cannot be run in DOS mode"
_GETPC_CALL = re.compile(rb"\xe8\x00\x00\x00\x00[\x58-\x5f]")
_GETPC_FNSTENV = re.compile(rb"\xd9[\xe8-\xee]\xd9\x74\x24\xf4")
_PEB_X86 = re.compile(rb"\x64\xa1\x30\x00\x00\x00|\x64\x8b[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]\x30\x00\x00\x00")
_PEB_X64 = re.compile(rb"\x65\x48\x8b[\x04\x0c\x14\x1c\x24\x2c\x34\x3c]\x25\x60\x00\x00\x00")
_SKIP_TYPES = frozenset({"msi", "msg"})


@dataclass(frozen=True)
class IchitaroRules:
    known_streams: frozenset[str]
    known_prefixes: tuple[str, ...]
    oversized_ratio: float
    oversized_min: int
    nop_sled: int
    xor_keys: int
    max_stream: int

    def is_known(self, name: str) -> bool:
        low = name.lstrip("\x01\x02\x03\x05").lower()
        return low in self.known_streams or low.startswith(self.known_prefixes)


def load_ichitaro_rules(path: Path) -> IchitaroRules:
    data = read_toml(path).get("ichitaro")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: missing [ichitaro] table")
    keys = ("known_streams", "known_prefixes", "oversized_ratio", "oversized_min", "nop_sled", "xor_keys", "max_stream")
    check_options(data, keys, f"{path} [ichitaro]")
    names = data.get("known_streams")
    prefixes = data.get("known_prefixes")
    for key, value in (("known_streams", names), ("known_prefixes", prefixes)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{path}: [ichitaro] {key} must be a list of non-empty strings")
    assert isinstance(names, list) and isinstance(prefixes, list)
    numbers: dict[str, Any] = {}
    for key, default in (("oversized_min", 262144), ("nop_sled", 64), ("xor_keys", 255), ("max_stream", 1 << 24)):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{path}: [ichitaro] {key} must be a positive integer")
        numbers[key] = value
    ratio = data.get("oversized_ratio", 8.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
        raise ConfigError(f"{path}: [ichitaro] oversized_ratio must be a positive number")
    if numbers["xor_keys"] > 255:
        raise ConfigError(f"{path}: [ichitaro] xor_keys is at most 255")
    return IchitaroRules(
        known_streams=frozenset(n.lower() for n in names),
        known_prefixes=tuple(p.lower() for p in prefixes),
        oversized_ratio=float(ratio),
        **numbers,
    )


def find_embedded_pe(data: bytes, xor_keys: int) -> str | None:
    """How an executable is hidden in `data` (plain, or XOR with a one-byte key), or None."""
    at = data.find(_STUB)
    if at >= 0 and data.rfind(b"MZ", max(0, at - 512), at) >= 0:
        return f"MZ + DOS stub at offset {data.rfind(b'MZ', max(0, at - 512), at)}"
    for key in range(1, xor_keys + 1):
        encoded = bytes(b ^ key for b in _STUB)
        at = data.find(encoded)
        if at >= 0:
            return f"DOS stub XOR-encoded with key 0x{key:02x} at offset {at}"
    return None


def shellcode_idioms(data: bytes, nop_sled: int) -> list[str]:
    """Names of the shellcode idioms present in `data`."""
    found: list[str] = []
    if b"\x90" * nop_sled in data:
        found.append(f"NOP sled (≥{nop_sled} × 0x90)")
    if _GETPC_CALL.search(data) or _GETPC_FNSTENV.search(data):
        found.append("GetPC (call $+5; pop / fnstenv)")
    if _PEB_X86.search(data):
        found.append("PEB access (fs:[30h])")
    if _PEB_X64.search(data):
        found.append("PEB access (gs:[60h])")
    return found


def _exploit_object(root_clsid: str, streams: Mapping[str, bytes]) -> tuple[float, list[str]] | None:
    """An embedded object of an exploit class: (strength, evidence), or None.

    The OLE file *is* such an object (its root CLSID, e.g. an oleObject.bin in a .pptx): 1.0. A document holding
    an Equation Editor stream somewhere in its ObjectPool: 0.7 (old documents with real equations exist).
    """
    from oletools.common.clsid import KNOWN_CLSIDS

    description = KNOWN_CLSIDS.get(root_clsid, "") if root_clsid else ""
    reason = exploit_reason("", description) if description else None
    if reason is not None:
        return 1.0, [f"embedded OLE object of class {root_clsid}: {reason}"]
    nested = [n for n in streams if n.split("/")[-1] == "Equation Native"]
    if nested:
        where = escape_controls(nested[0])[:80]
        return 0.7, [f"Equation Editor object ({where}): CVE-2017-11882 / CVE-2018-0802"]
    return None


class IchitaroAnalyzer:
    name = "ichitaro"
    scope = Scope.ARTIFACT
    accepts = frozenset({"ole", "jtd"})
    emits = declared_emits(__name__, "IchitaroAnalyzer")

    def __init__(self) -> None:
        self._rules: IchitaroRules | None = None

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, f"analyzers.{self.name}")
        lists = options.get("lists", DEFAULT_LISTS)
        if not isinstance(lists, str):
            raise ConfigError(f"[analyzers.{self.name}] lists must be a rules path string")
        self._rules = load_ichitaro_rules(config.rules_path(lists))

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if self._rules is None or not target.readable or not target.data or not _SKIP_TYPES.isdisjoint(target.types):
            return []
        ichitaro = "jtd" in target.types
        read = self._streams(target.data, ctx)
        if read is None:
            if ichitaro:
                ctx.note(NoteKind.UNPARSABLE, "Ichitaro document: OLE structure not readable")
            return []
        streams, root_clsid = read
        findings: list[Finding] = []
        exploit = _exploit_object(root_clsid, streams)
        if exploit is not None:
            findings.append(self._finding("DOC_RTF_EXPLOIT", target.id, exploit[0], exploit[1]))
        idioms: dict[str, list[str]] = {}
        embedded: list[str] = []
        for name, data in streams.items():
            ctx.check_deadline()
            for idiom in shellcode_idioms(data, self._rules.nop_sled):
                idioms.setdefault(idiom, []).append(name)
            if ichitaro:
                how = find_embedded_pe(data, self._rules.xor_keys)
                if how is not None:
                    embedded.append(f"stream {escape_controls(name)[:60]}: {how}")
        if embedded:
            findings.append(self._finding("ICHITARO_EMBEDDED_EXECUTABLE", target.id, 1.0, embedded))
        if ichitaro:
            findings.extend(self._unusual(streams, target.id))
        shellcode = self._shellcode(idioms, ichitaro, target.id)
        if shellcode is not None:
            findings.append(shellcode)
        return findings

    def _streams(self, data: bytes, ctx: PluginContext) -> tuple[dict[str, bytes], str] | None:
        """(stream path -> bytes, each bounded; the root CLSID), or None when olefile cannot read the file."""
        assert self._rules is not None
        import olefile

        out: dict[str, bytes] = {}
        clsid = ""
        try:
            # BytesIO, never bytes: olefile treats a short bytes argument as a file *name*
            ole = olefile.OleFileIO(io.BytesIO(data))
            try:
                clsid = str(getattr(ole.root, "clsid", "") or "").upper()
                for count, path in enumerate(ole.listdir(streams=True, storages=False)):
                    if count >= _MAX_STREAMS:
                        ctx.note(NoteKind.LIMIT_FILES, f"OLE file has more than {_MAX_STREAMS} streams")
                        break
                    ctx.check_deadline()
                    stream = ole.openstream(path)
                    out["/".join(path)] = stream.read(self._rules.max_stream)
            finally:
                ole.close()
        except Exception:  # olefile raises anything on crafted input
            return (out, clsid) if out else None
        return out, clsid

    def _unusual(self, streams: Mapping[str, bytes], artifact: str) -> list[Finding]:
        assert self._rules is not None
        rules = self._rules
        unknown = [n for n in streams if not all(rules.is_known(part) for part in n.split("/"))]
        text_size = max((len(v) for n, v in streams.items() if n.split("/")[-1] == "DocumentText"), default=0)
        oversized = [
            f"{escape_controls(n)[:60]}: {len(v)} bytes against {text_size} of DocumentText"
            for n, v in streams.items()
            if n.split("/")[-1] != "DocumentText"
            and len(v) >= rules.oversized_min
            and len(v) > rules.oversized_ratio * max(text_size, 1)
        ]
        if not unknown and not oversized:
            return []
        evidence = [f"stream not written by Ichitaro: {escape_controls(n)[:60]}" for n in unknown[:5]] + oversized[:3]
        return [self._finding("ICHITARO_UNUSUAL_STREAM", artifact, 0.7 if oversized else 0.5, evidence)]

    def _shellcode(self, idioms: Mapping[str, list[str]], ichitaro: bool, artifact: str) -> Finding | None:
        kinds = [k for k in idioms if not k.startswith("NOP")] if not ichitaro else list(idioms)
        if not kinds:
            return None
        count = len(idioms) if ichitaro or kinds else 0
        strength = 1.0 if count >= 2 else (0.7 if ichitaro else 0.5)
        evidence = [f"{k} in {', '.join(escape_controls(n)[:40] for n in idioms[k][:3])}" for k in idioms]
        return self._finding("SHELLCODE_PATTERN", artifact, strength, evidence)

    def _finding(self, fid: str, artifact: str, strength: float, evidence: Iterable[str]) -> Finding:
        return Finding(id=fid, artifact=artifact, analyzer=self.name, strength=strength, evidence=tuple(evidence))

"""RTF documents, read lexically: exploit markers and the tricks that hide objects from scanners.

The objects themselves are decoded by the RTF unpacker (triage.unpack.rtf, oletools rtfobj), which emits
DOC_RTF_EXPLOIT from the class inside each object. This analyzer reads the control words, fast (regexes, no
full parse), and catches what survives obfuscation of the object data:

- DOC_RTF_EXPLOIT: ``\\objclass`` naming an exploit class (Equation Editor, OLE2Link, MSCOMCTL ListView/
  TreeView), or a ``pFragments`` shape property (CVE-2010-3333); ``\\objupdate`` (the object loads without a
  click) is added to the evidence.
- RTF_OBFUSCATED: non-hex junk inside ``\\objdata`` (nested groups, control words, escapes: 1.0), ``\\bin``
  runs, groups nested deeper than Word ever writes, a header that is ``{\\rt`` but not ``{\\rtf1``, or groups
  left open at the end of the file; one minor trick is 0.5, two or more 1.0.

Options ([analyzers.rtf]): ``max_scan`` (bytes read, default 32 MiB), ``deep_nesting`` (default 100).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from triage.errors import ConfigError
from triage.model import Finding
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options
from triage.unpack.rtf import exploit_reason

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["RtfAnalyzer"]

DEFAULT_MAX_SCAN = 32 * 1024 * 1024
DEFAULT_DEEP_NESTING = 100
_OPTIONS = frozenset({"max_scan", "deep_nesting"})
_MAX_OBJDATA = 64
_DEADLINE_EVERY = 65_536

_NOT_BRACES = bytes(b for b in range(256) if b not in b"{}")
_BIN = re.compile(rb"\\bin(-?\d{1,10})")
_OBJCLASS = re.compile(rb"\\objclass\s*([^}\\{]{1,120})")
_OBJDATA = re.compile(rb"\\objdata\b")
_PFRAGMENTS = re.compile(rb"(?i)\\sn\s*pfragments")
_OBJUPDATE = re.compile(rb"\\objupdate\b")
_HEX_OR_SPACE = re.compile(rb"[0-9A-Fa-f\s]+")
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f\s{}]+")
_ENOUGH_JUNK = 4096  # counting stops here: the verdict needs 8


class RtfAnalyzer:
    name = "rtf"
    scope = Scope.ARTIFACT
    accepts = frozenset({"rtf"})
    emits = declared_emits(__name__, "RtfAnalyzer")

    def __init__(self) -> None:
        self._max_scan = DEFAULT_MAX_SCAN
        self._deep = DEFAULT_DEEP_NESTING

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, f"analyzers.{self.name}")
        for key, default in (("max_scan", DEFAULT_MAX_SCAN), ("deep_nesting", DEFAULT_DEEP_NESTING)):
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"[analyzers.{self.name}] {key} must be a positive integer")
        self._max_scan = options.get("max_scan", DEFAULT_MAX_SCAN)
        self._deep = options.get("deep_nesting", DEFAULT_DEEP_NESTING)

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if not target.readable or not target.data:
            return []
        data = target.data[: self._max_scan]
        findings: list[Finding] = []
        exploit = self._exploits(data)
        if exploit:
            findings.append(self._finding("DOC_RTF_EXPLOIT", target.id, 1.0, exploit))
        tricks, strong = self._obfuscation(data, ctx)
        if tricks:
            strength = 1.0 if strong or len(tricks) >= 2 else 0.5
            findings.append(self._finding("RTF_OBFUSCATED", target.id, strength, tricks))
        return findings

    def _exploits(self, data: bytes) -> list[str]:
        evidence: dict[str, None] = {}
        for m in _OBJCLASS.finditer(data):
            name = m.group(1).decode("latin-1").strip()
            reason = exploit_reason(name)
            if reason is not None:
                evidence[f"\\objclass {escape_controls(name)[:60]}: {reason}"] = None
        if _PFRAGMENTS.search(data):
            evidence["pFragments shape property (CVE-2010-3333)"] = None
        if evidence and _OBJUPDATE.search(data):
            evidence["\\objupdate: the object loads without a click"] = None
        return list(evidence)

    def _obfuscation(self, data: bytes, ctx: PluginContext) -> tuple[list[str], bool]:
        tricks: list[str] = []
        strong = False
        if data.startswith(b"{\\rt") and not data.startswith(b"{\\rtf1"):
            tricks.append(f"header {escape_controls(data[:12].decode('latin-1'))!r} is not {{\\rtf1")
        bins = _BIN.findall(data)
        if len(bins) >= 3 or any(abs(int(n)) >= 65_536 for n in bins):
            tricks.append(f"{len(bins)} \\bin run(s)")
        # Escapes out, then only the braces kept (C speed); the walk over them is the only Python loop
        skeleton = data.replace(b"\\\\", b"").replace(b"\\{", b"").replace(b"\\}", b"").translate(None, _NOT_BRACES)
        depth = deepest = 0
        for count, brace in enumerate(skeleton):
            if count % _DEADLINE_EVERY == 0:
                ctx.check_deadline()
            if brace == 0x7B:
                depth += 1
                deepest = max(deepest, depth)
            elif depth > 0:
                depth -= 1
        if deepest >= self._deep:
            tricks.append(f"groups nested {deepest} deep")
        if depth > 0 and b"objdata" in data:
            tricks.append(f"{depth} group(s) never closed")
        junk_total = 0
        for count, m in enumerate(_OBJDATA.finditer(data)):
            if count >= _MAX_OBJDATA:
                break
            ctx.check_deadline()
            junk_total += _objdata_junk(data, m.end())
        if junk_total >= 8:
            tricks.append(f"{junk_total} non-hex characters inside \\objdata")
            strong = True
        return tricks, strong

    def _finding(self, fid: str, artifact: str, strength: float, evidence: Iterable[str]) -> Finding:
        return Finding(id=fid, artifact=artifact, analyzer=self.name, strength=strength, evidence=tuple(evidence))


def _objdata_junk(data: bytes, pos: int) -> int:
    """Characters other than hex digits and whitespace in the \\objdata group that starts before `pos`."""
    depth = 1
    end = len(data)
    junk = 0
    limit = min(end, pos + 64 * 1024 * 1024)
    while pos < limit and junk < _ENOUGH_JUNK:
        m = _HEX_OR_SPACE.match(data, pos)
        if m is not None:
            pos = m.end()
            continue
        ch = data[pos : pos + 1]
        if ch == b"}":
            depth -= 1
            if depth == 0:
                break
            pos += 1
            continue
        if ch == b"{":
            depth += 1
            junk += 1
            pos += 1
            continue
        m = _NOT_HEX.match(data, pos)
        step = m.end() - pos if m is not None else 1
        junk += step
        pos += step
    return junk

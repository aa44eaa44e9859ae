"""The plugin declarations and lazy start-up: declarations equal their classes, Engine() imports no plugin, what a
message does not need is never loaded, a site's mistakes still fail at start-up, and warm-up changes no result."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from publicsuffixlist import PSLFILE, PublicSuffixList

from tests.conftest import make_message
from triage.analyzers.ja_text import build_kanji_tables, flagged_kanji, leading_chars, load_phrase_rules
from triage.config import ConfigError, load_config
from triage.domains import SuffixList, _punycode_rules
from triage.engine import Engine
from triage.registry import (
    ANALYZERS,
    UNPACKERS,
    LazyPlugin,
    PluginSpec,
    default_analyzers,
    default_unpackers,
    warm_modules,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def _cls(spec: PluginSpec) -> type:
    cls: type = getattr(importlib.import_module(spec.module), spec.cls)
    return cls


@pytest.mark.parametrize("spec", [*UNPACKERS, *ANALYZERS], ids=lambda s: f"{s.section}.{s.name}")
def test_declaration_equals_its_class(spec: PluginSpec) -> None:
    cls = _cls(spec)
    assert cls.name == spec.name  # type: ignore[attr-defined]
    assert frozenset(cls.accepts) == spec.accepts  # type: ignore[attr-defined]
    assert frozenset(cls.emits) == spec.emits  # type: ignore[attr-defined]
    if spec.scope is None:
        assert not hasattr(cls, "scope") and hasattr(cls, "unpack")
    else:
        assert cls.scope is spec.scope  # type: ignore[attr-defined]
        assert hasattr(cls, "analyze")


def test_names_are_unique_and_order_is_kept() -> None:
    for specs in (UNPACKERS, ANALYZERS):
        assert len({s.name for s in specs}) == len(specs)
    assert [p.name for p in default_unpackers()] == [s.name for s in UNPACKERS]
    assert [p.name for p in default_analyzers()][-1] == "yara"  # the widest scan runs last


def test_engine_start_imports_no_plugin_module() -> None:
    code = "import sys, json\nfrom triage.engine import Engine\nEngine()\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    imported = set(json.loads(out.stdout))
    plugin_modules = {s.module for s in (*UNPACKERS, *ANALYZERS)}
    assert imported & plugin_modules == set()
    assert not {"oletools", "pefile", "yara", "sudachipy", "pikepdf", "py7zr"} & imported


def test_a_plain_message_loads_only_what_it_needs() -> None:
    engine = Engine()
    report = engine.scan(make_message(subject="hello", body="See you at the meeting."))
    assert report.notes == ()
    loaded = {p.name for p in (*engine.unpackers, *engine.analyzers) if isinstance(p, LazyPlugin) and p.loaded}
    assert "mime" in loaded and "sender" in loaded
    assert not {"office", "pdf", "zip", "rar", "sevenzip", "pe", "lnk", "chm", "rtf", "ichitaro", "script"} & loaded


def test_a_site_option_error_fails_at_start_up() -> None:
    with pytest.raises(ConfigError):
        Engine(load_config(overrides={"analyzers": {"sender": {"bogus": 1}}}))
    with pytest.raises(ConfigError):
        Engine(load_config(overrides={"unpack": {"xz": {"max_members_listed": "many"}}}))


def test_a_site_option_loads_every_plugin_at_start_up() -> None:
    engine = Engine(load_config(overrides={"analyzers": {"sender": {"signature_lines": 20}}}))
    plugins = [p for p in (*engine.unpackers, *engine.analyzers) if isinstance(p, LazyPlugin)]
    assert plugins and all(p.loaded for p in plugins)


def test_shipped_defaults_load_lazily() -> None:
    engine = Engine()
    assert not any(p.loaded for p in (*engine.unpackers, *engine.analyzers) if isinstance(p, LazyPlugin))


@pytest.mark.parametrize(
    "sample", ["01_welcome_party_zip_exe.eml", "13_chinese_origin_japanese.eml", "12_gov_lookalike_domain.eml"]
)
def test_warm_up_changes_no_result(sample: str) -> None:
    raw = (SAMPLES / sample).read_bytes()
    cold = Engine().scan(raw, name=sample)
    warm_engine = Engine()
    warm_engine.warm_up()
    assert all(p.loaded for p in (*warm_engine.unpackers, *warm_engine.analyzers) if isinstance(p, LazyPlugin))
    warm = warm_engine.scan(raw, name=sample)
    assert cold.findings and warm.findings == cold.findings
    assert warm.verdict == cold.verdict


def test_every_declared_use_imports() -> None:
    # warm_up skips a use that fails to import (the plugin reports a missing library itself), so a misspelt name
    # would go unnoticed there: here it fails.
    for module in warm_modules():
        importlib.import_module(module)


def test_a_warmed_up_engine_imports_nothing_while_scanning_the_samples() -> None:
    # In a fresh interpreter: this process has imported everything already. An import on the way of a mail is the
    # gateway's tail latency (pefile 20 ms, oletools 100 ms, py7zr 70 ms on the first message that needs them).
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom triage.engine import Engine\n"
        "engine = Engine()\nengine.warm_up()\nbefore = set(sys.modules)\nnew = {}\n"
        f"for path in sorted(Path({str(SAMPLES)!r}).glob('*.eml')):\n"
        "    engine.scan(path.read_bytes(), name=path.name)\n"
        "    for module in set(sys.modules) - before - set(new):\n"
        "        new[module] = path.name\n"
        "print(json.dumps(new))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout) == {}


def test_kanji_of_one_text_match_the_full_tables() -> None:
    tables = build_kanji_tables()
    every = "".join(chr(i) for i in range(0x3000, 0x10000))
    assert flagged_kanji(every) == tables.flagged
    assert flagged_kanji("会议の资料をお送りします") == {"议", "资"}
    assert flagged_kanji("ascii only") == frozenset()


def test_suffix_list_answers_as_the_library_default() -> None:
    ours = SuffixList(Path(PSLFILE).read_text(encoding="utf-8"))
    reference = PublicSuffixList(accept_unknown=False)
    lines = Path(PSLFILE).read_text(encoding="utf-8").splitlines()
    rules = [r for r in (line.split(" ", 1)[0].strip().lower() for line in lines) if r and not r.startswith("//")]
    punycode = _punycode_rules(lines)
    assert punycode and all(r.isascii() for r in punycode)
    hosts = [
        "example.co.jp",
        "WWW.Example.CO.JP",
        "example.co.jp.",
        "www.city.chiyoda.lg.jp",
        "例え.テスト",
        "xn--r8jz45g.jp",
        "xn--eckwd4c7c.xn--zckzah",
        "a.xn--",
        "a.xn--zz9999",
        "unknown-tld.zzzz",
        "jp",
        "",
    ]
    for rule in (*rules, *punycode):
        base = rule.removeprefix("!").removeprefix("*.")
        hosts += [f"a.b.{base}", base]
    for host in hosts:
        assert ours.privatesuffix(host) == reference.privatesuffix(host), host


@pytest.mark.parametrize(
    ("source", "chars"),
    [
        ("客様(?<![お御\\u3400-\\u9fff]客様)", "客"),
        ("\\u00b7(?<=[\\u3041-\\u30ff]\\u00b7)", "\u00b7"),
        ("[\\u200b-\\u200d]x", "\u200b\u200c\u200d"),
        ("[a\\-c]x", "a-c"),
        ("[-a]b", "-a"),
        ("[a-]b", "a-"),
        ("x(?:a|b)", "x"),
        ("\\\\x", "\\"),
        ("a|b", ""),
        ("(?:a)b", ""),
        ("a?b", ""),
        ("a*b", ""),
        ("a{0,2}b", ""),
        ("[^a]b", ""),
        ("\\sx", ""),
        ("\\bx", ""),
        (".x", ""),
        ("(?m)^x", ""),
        ("[\\u3041-\\u30ff]x", ""),  # too large to be a cheap filter
    ],
)
def test_leading_chars_are_sound(source: str, chars: str) -> None:
    import re

    found = leading_chars(source)
    assert found == frozenset(chars)
    texts = [
        "xa",
        "bx",
        "a-cx",
        "-ab",
        "a b",
        "\\x",
        "お客様",
        "客様",
        "日\u00b7本",
        "\u200cx",
        " x",
        "ab",
        "aab",
        "yb",
    ]
    for text in texts:
        for match in re.finditer(source, text):
            assert not found or text[match.start()] in found, (source, text)


def test_phrase_rule_filters_admit_every_example() -> None:
    import unicodedata

    rules = load_phrase_rules(ROOT / "rules" / "ja" / "phrases.toml", compiled=False)
    assert any(rule.needs for rule in rules)
    for rule in rules:
        for example in rule.examples:
            text = unicodedata.normalize("NFKC", example)
            assert not rule.needs or any(c in text for c in rule.needs), (rule.id, example)


def test_a_maybe_declaration_skips_exactly_what_its_class_ignores() -> None:
    # The script analyzer reads text/HTML only when the MIME unpacker flagged the part as a script: the declaration
    # says the same, so the engine need not load the analyzer for every plain body.
    from tests.analyzers._carriers import Ctx, view_of
    from triage.analyzers.script import ScriptAnalyzer

    spec = next(s for s in ANALYZERS if s.name == "script")
    script = ScriptAnalyzer()
    script.setup(load_config())
    body = b"powershell -nop -w hidden -enc " + b"A" * 40 + b"\nIEX (New-Object Net.WebClient).DownloadString('x')"
    for types, meta in (
        (("text",), {}),
        (("html",), {}),
        (("text",), {"script": "script-ps1"}),
        (("script-ps1", "text"), {}),
        (("hta", "html"), {}),
    ):
        target = view_of(body, "x", types=types, meta=meta)  # type: ignore[arg-type]
        assert spec.ignores(target) == (not list(script.analyze(target, Ctx()))), (types, meta)  # type: ignore[arg-type]

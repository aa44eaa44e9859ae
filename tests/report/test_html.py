"""The HTML report without a browser: every sample renders with its findings, content is escaped, the page
loads nothing, and a sweep's report.html is written from its results database."""

from __future__ import annotations

import base64
import hashlib
import re
from email.utils import formataddr
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_message, make_zip
from triage.batch.store import DB_NAME, ResultStore
from triage.batch.sweep import SweepOptions, run_sweep
from triage.config import load_config
from triage.engine import Engine
from triage.frontends.cli import main
from triage.model import Report
from triage.report.html import render_html, text
from triage.report.html_sweep import HTML_NAME, render_sweep_html
from triage.report.i18n import Messages, load_messages
from triage.scoring.table import ScoringTable

SAMPLES = sorted((ROOT / "samples").glob("*.eml"))
RLO = "\u202e"


@pytest.fixture(scope="module")
def scoring() -> ScoringTable:
    return load_config().scoring


@pytest.fixture(scope="module")
def en(scoring: ScoringTable) -> Messages:
    return load_messages("en", scoring, load_config().rules)


@pytest.fixture(scope="module")
def ja(scoring: ScoringTable) -> Messages:
    return load_messages("ja", scoring, load_config().rules)


@pytest.fixture(scope="module")
def sample_reports(engine: Engine) -> dict[str, Report]:
    return {path.name: engine.scan(path.read_bytes(), name=path.name) for path in SAMPLES}


class _Page(HTMLParser):
    """Collects what matters for safety: tags, attributes, script and style bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.bodies: dict[str, list[str]] = {"script": [], "style": []}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.bodies:
            self._in = tag
            self.bodies[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.bodies[self._in][-1] += data


def _parse(document: str) -> _Page:
    parser = _Page()
    parser.feed(document)
    parser.close()
    return parser


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def _assert_page_is_inert(document: str) -> None:
    """One script and one style, both allowed by hash in a default-src 'none' CSP; no links leave the page."""
    page = _parse(document)
    assert [t for t, _ in page.tags].count("script") == 1
    assert [t for t, _ in page.tags].count("style") == 1
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None
    assert "default-src 'none'" in csp
    assert _sha256(page.bodies["script"][0]) in csp
    assert _sha256(page.bodies["style"][0]) in csp
    assert "unsafe-inline" not in csp
    for tag, attrs in page.tags:
        assert tag not in ("img", "iframe", "object", "embed", "link", "form", "base"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), attrs
        assert "src" not in attrs, (tag, attrs)
    assert RLO not in document


@pytest.mark.parametrize("name", [p.name for p in SAMPLES])
def test_every_sample_renders_with_its_findings(
    name: str, sample_reports: dict[str, Report], en: Messages, scoring: ScoringTable
) -> None:
    report = sample_reports[name]
    document = render_html([report], en, scoring)
    assert document.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in document
    for finding_id in report.finding_ids():
        assert f'data-finding="{finding_id}"' in document
        assert text(en.finding_title(finding_id)) in document
    assert f'class="verdict {report.verdict.level.value}"' in document
    assert report.input.sha256 in document
    for art in report.artifacts:
        if art.sha256:
            assert art.sha256 in document
    _assert_page_is_inert(document)


def test_rlo_name_is_shown_escaped_and_as_explorer_shows_it(
    sample_reports: dict[str, Report], en: Messages, scoring: ScoringTable
) -> None:
    document = render_html([sample_reports["05_rlo_exe.eml"]], en, scoring)
    assert "報告書\\u202efdp.exe" in document
    assert "報告書exe.pdf" in document


def test_forwarded_wrapper_and_iocs_are_defanged(
    sample_reports: dict[str, Report], en: Messages, scoring: ScoringTable
) -> None:
    report = sample_reports["08_forwarded_welcome_party.eml"]
    assert report.forwarded_by is not None
    document = render_html([report], en, scoring)
    assert en.t("html.section_forwarded") in document
    assert "suzuki@corp.example.jp" in document  # the wrapper's sender, as a header
    for email in report.iocs.emails:
        local, _, domain = email.rpartition("@")
        assert f"{local}[@]{domain.replace('.', '[.]')}" in document


def test_japanese_page(sample_reports: dict[str, Report], ja: Messages, scoring: ScoringTable) -> None:
    report = sample_reports["01_welcome_party_zip_exe.eml"]
    document = render_html([report], ja, scoring)
    assert '<html lang="ja">' in document
    assert text(ja.verdict(report.verdict.level)) in document
    assert ja.t("html.section_findings") in document
    for finding_id in report.finding_ids():
        assert text(ja.finding_title(finding_id)) in document


def test_several_messages_get_an_index(sample_reports: dict[str, Report], en: Messages, scoring: ScoringTable) -> None:
    reports = [sample_reports[n] for n in ("01_welcome_party_zip_exe.eml", "09_benign_business_iso2022jp.eml")]
    document = render_html(reports, en, scoring)
    assert 'href="#m1"' in document and 'id="m1"' in document
    assert 'href="#m2"' in document and 'id="m2"' in document


HOSTILE = '<script>window.__pwned=1</script>"><img src=x onerror=window.__pwned=2>'


def hostile_message() -> bytes:
    """Markup and javascript: in the subject, display name, attachment names and URLs."""
    body = (
        "資料をご確認ください。\n"
        'javascript:window.__pwned=3 http://evil.example.com/"><script>window.__pwned=4</script>\n'
        "data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD01PC9zY3JpcHQ+\n"
        "パスワード: abc123\n"
    )
    return make_message(
        subject=HOSTILE,
        sender=formataddr((HOSTILE, "attacker@evil.example.com")),
        body=body,
        headers=[("Reply-To", "javascript:window.__pwned=6 <x@evil.example.com>")],
        attachments=[
            (f"{HOSTILE}{RLO}fdp.exe", b"MZ" + b"\0" * 200, "application/octet-stream"),
            (
                "a.zip",
                make_zip([(f'<img src=x onerror="window.__pwned=7">{RLO}gpj.scr', b"MZ" + b"\0" * 100)]),
                "application/zip",
            ),
        ],
    )


def test_content_is_escaped(engine: Engine, en: Messages, scoring: ScoringTable) -> None:
    report = engine.scan(hostile_message(), name=f"{HOSTILE}.eml")
    document = render_html([report], en, scoring)
    _assert_page_is_inert(document)
    assert "<script>window" not in document
    assert "<img" not in document
    assert (
        "&lt;script&gt;window.__pwned=1&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=window.__pwned=2&gt;" in document
    )
    assert "\\u202efdp.exe" in document
    assert 'href="javascript' not in document.lower()
    assert "evil[.]example[.]com" in document
    assert "http://evil.example.com" not in document


def test_text_escapes_quotes_controls_and_keeps_newlines() -> None:
    assert text("a\"b'c<d>&") == "a&quot;b&#x27;c&lt;d&gt;&amp;"
    assert text(f"x{RLO}y\u200bz") == "x\\u202ey\\u200bz"
    assert text("one\ntwo") == "one\ntwo"
    assert text(None) == ""
    assert text("abcdef", limit=3) == "abc…"


def _sweep(tmp_path: Path, names: list[str]) -> Path:
    out = tmp_path / "out"
    opts = SweepOptions(sources=tuple(str(ROOT / "samples" / n) for n in names), out=out, jobs=1)
    run_sweep(opts)
    return out


SWEEP_SAMPLES = [
    "01_welcome_party_zip_exe.eml",
    "05_rlo_exe.eml",
    "09_benign_business_iso2022jp.eml",
    "14_unnatural_japanese.eml",
]


def test_sweep_report(tmp_path: Path, en: Messages, scoring: ScoringTable) -> None:
    out = _sweep(tmp_path, SWEEP_SAMPLES)
    store = ResultStore(out / DB_NAME)
    try:
        document = render_sweep_html(store, en, scoring)
        verdicts = {r.source_id: r.verdict for r in store.rows()}
        ids = {r.source_id: r.id for r in store.rows()}
    finally:
        store.close()
    _assert_page_is_inert(document)
    page = _parse(document)
    rows = [a for t, a in page.tags if t == "tr" and "data-verdict" in a]
    assert len(rows) == len(SWEEP_SAMPLES)
    assert sorted(a["data-verdict"] or "" for a in rows) == sorted(verdicts.values())
    element_ids = {a["id"] for _, a in page.tags if a.get("id")}
    links = {(a["href"] or "")[1:] for t, a in page.tags if t == "a" and a.get("href")}
    for source, mid in ids.items():
        assert f"msg-{mid}" in element_ids, source
        assert f"msg-{mid}" in links, source
    assert links <= element_ids | {"messages"}
    for level in ("malicious", "clean"):
        count = sum(1 for v in verdicts.values() if v == level)
        assert f'<div class="count {level}"><span class="n">{count}</span>' in document


def test_batch_and_scan_write_html(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    rc = main(
        ["batch", "--quiet", "--jobs", "1", "--out", str(out), *(str(ROOT / "samples" / n) for n in SWEEP_SAMPLES[:2])]
    )
    assert rc == 4
    sweep_html = (out / HTML_NAME).read_text(encoding="utf-8")
    assert "FILENAME_RLO" in sweep_html
    _assert_page_is_inert(sweep_html)
    target = tmp_path / "scan.html"
    rc = main(["scan", "--brief", "--html", str(target), str(ROOT / "samples" / "05_rlo_exe.eml")])
    assert rc == 4
    assert 'data-finding="FILENAME_RLO"' in target.read_text(encoding="utf-8")


def test_report_id_format_is_anchor_safe(
    en: Messages, scoring: ScoringTable, sample_reports: dict[str, Report]
) -> None:
    document = render_html([sample_reports["10_nested_zip_5_levels.eml"]], en, scoring)
    for value in re.findall(r' id="([^"]*)"', document):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value), value

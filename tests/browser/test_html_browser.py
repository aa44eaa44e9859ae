"""The HTML reports in a real browser: they load with no console error and no request leaving file://, the
sweep table sorts and filters, a malicious sample shows its findings and the RLO name both ways, the copy button
copies the defanged value, and hostile content stays text. Screenshots are saved under the test's temp dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import Browser
from tests.conftest import ROOT
from tests.report.test_html import HOSTILE, hostile_message
from triage.batch.sweep import SweepOptions, run_sweep
from triage.config import load_config
from triage.engine import Engine
from triage.model import Level, Report
from triage.report.defang import defang
from triage.report.html import render_html
from triage.report.html_sweep import write_sweep_html
from triage.report.i18n import load_messages

SWEEP_SAMPLES = (
    "01_welcome_party_zip_exe.eml",
    "05_rlo_exe.eml",
    "09_benign_business_iso2022jp.eml",
    "12_gov_lookalike_domain.eml",
    "14_unnatural_japanese.eml",
)


@dataclass(frozen=True)
class Pages:
    malicious: Path
    clean: Path
    japanese: Path
    hostile: Path
    sweep: Path
    malicious_iocs: tuple[tuple[str, str], ...]  # (kind, exact value) in page order


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, engine: Engine, browser: Browser) -> Pages:
    root = tmp_path_factory.mktemp("html")
    config = load_config()
    en = load_messages("en", config.scoring, config.rules)
    ja = load_messages("ja", config.scoring, config.rules)

    def scan(name: str) -> Report:
        path = ROOT / "samples" / name
        return engine.scan(path.read_bytes(), name=name)

    def write(name: str, document: str) -> Path:
        target = root / name
        target.write_text(document, encoding="utf-8")
        return target

    rlo = engine.scan((ROOT / "samples" / "12_gov_lookalike_domain.eml").read_bytes(), name="12.eml")
    iocs = tuple(
        (kind, value)
        for kind, values in (("urls", rlo.iocs.urls), ("domains", rlo.iocs.domains), ("ips", rlo.iocs.ips))
        for value in values
    )
    malicious = engine.scan((ROOT / "samples" / "05_rlo_exe.eml").read_bytes(), name="05_rlo_exe.eml")
    out = root / "sweep"
    run_sweep(SweepOptions(sources=tuple(str(ROOT / "samples" / n) for n in SWEEP_SAMPLES), out=out, jobs=1))
    return Pages(
        malicious=write("malicious.html", render_html([malicious, rlo], en, config.scoring)),
        clean=write("clean.html", render_html([scan("09_benign_business_iso2022jp.eml")], en, config.scoring)),
        japanese=write("japanese.html", render_html([scan("01_welcome_party_zip_exe.eml")], ja, config.scoring)),
        hostile=write(
            "hostile.html", render_html([engine.scan(hostile_message(), name=f"{HOSTILE}.eml")], en, config.scoring)
        ),
        sweep=write_sweep_html(out, en, config.scoring),
        malicious_iocs=iocs,
    )


def test_malicious_sample_shows_findings_and_the_rlo_name_both_ways(quiet: Browser, pages: Pages) -> None:
    page = quiet.open(pages.malicious)
    section = page.locator("#m1")
    for finding in ("FILENAME_RLO", "FILENAME_DOUBLE_EXT", "ATTACHMENT_EXECUTABLE", "SENDER_GOV_LOOKALIKE"):
        assert section.locator(f'[data-finding="{finding}"]').first.is_visible()
    tree = section.locator("ul.tree").inner_text()
    assert "報告書\\u202efdp.exe" in tree  # raw, escaped: the override is visible, not applied
    assert "報告書exe.pdf" in tree  # as Explorer shows it
    assert section.locator(".verdict.malicious").is_visible()
    quiet.screenshot(page, "single-malicious")
    quiet.assert_quiet()


def test_clean_sample(quiet: Browser, pages: Pages) -> None:
    page = quiet.open(pages.clean)
    assert page.locator(".verdict.clean").is_visible()
    assert page.locator(".incomplete").count() == 0
    assert "09_benign_business_iso2022jp.eml" in page.locator("#m1 h2").inner_text()
    quiet.screenshot(page, "single-clean")
    quiet.assert_quiet()


def test_japanese_page(quiet: Browser, pages: Pages) -> None:
    page = quiet.open(pages.japanese)
    assert page.locator("html").get_attribute("lang") == "ja"
    config = load_config()
    ja = load_messages("ja", config.scoring, config.rules)
    level = page.locator(".verdict").first.get_attribute("class")
    assert level is not None
    assert page.locator(".verdict").first.inner_text().lower() == ja.verdict(Level(level.split()[-1])).lower()
    body = page.inner_text("body")
    assert ja.t("html.section_findings") in body
    assert ja.t("html.section_artifacts") in body
    quiet.screenshot(page, "single-japanese")
    quiet.assert_quiet()


def test_copy_button_copies_the_defanged_value(quiet: Browser, pages: Pages) -> None:
    assert pages.malicious_iocs, "the lookalike sample has URL indicators"
    quiet.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = quiet.open(pages.malicious)
    section = page.locator("#m2")
    kind, value = pages.malicious_iocs[0]
    row = section.locator(f'.ioc[data-kind="{kind}"]').first
    shown = row.locator("code").inner_text()
    assert shown == defang(value, kind)
    assert shown != value
    row.locator("button.copy").click()
    page.wait_for_function("document.querySelector('#m2 button.copy').textContent !== ''")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == defang(value, kind)
    quiet.assert_quiet()


def _column(page: object, index: int) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[attr-defined, no-any-return]
        "#messages tbody tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{index}].getAttribute('data-sort') ?? r.cells[{index}].textContent)",
    )


def test_sweep_table_sorts_and_filters(quiet: Browser, pages: Pages) -> None:
    page = quiet.open(pages.sweep)
    rows = page.locator("#messages tbody tr")
    assert rows.count() == len(SWEEP_SAMPLES)
    scores = [float(s) for s in _column(page, 1)]
    assert scores == sorted(scores, reverse=True)  # initial order: highest score first
    page.click('#messages th[data-col="score"] button')
    assert [float(s) for s in _column(page, 1)] == sorted(scores)
    page.click('#messages th[data-col="score"] button')
    assert [float(s) for s in _column(page, 1)] == sorted(scores, reverse=True)
    page.click('#messages th[data-col="subject"] button')
    subjects = _column(page, 4)
    assert subjects == sorted(subjects, key=str.lower) or subjects == sorted(subjects, key=str.lower, reverse=True)

    page.fill("#filter", "FILENAME_RLO")
    visible = page.locator("#messages tbody tr:not([hidden])")
    assert visible.count() == 1
    assert "FILENAME_RLO" in visible.first.inner_text()
    assert page.locator("#shown-count").inner_text().startswith("1 ")
    page.fill("#filter", "")
    page.select_option("#verdict-filter", "clean")
    verdicts = page.eval_on_selector_all(
        "#messages tbody tr:not([hidden])", "rows => rows.map(r => r.getAttribute('data-verdict'))"
    )
    assert verdicts and set(verdicts) == {"clean"}
    page.select_option("#verdict-filter", "")
    assert page.locator("#messages tbody tr:not([hidden])").count() == len(SWEEP_SAMPLES)

    quiet.screenshot(page, "sweep-table")
    link = page.locator('#messages tbody tr[data-verdict="malicious"] td.src a').first
    target = (link.get_attribute("href") or "")[1:]
    link.click()
    assert page.evaluate("location.hash") == f"#{target}"
    assert page.locator(f"#{target}").is_visible()
    assert page.locator(f"#{target} .finding").count() > 0
    clean = page.locator('#messages tbody tr[data-verdict="clean"] td.src a').first
    target = (clean.get_attribute("href") or "")[1:]
    clean.click()
    assert page.locator(f"#{target}").is_visible()  # the collapsed detail opens on navigation
    quiet.assert_quiet()


def test_hostile_content_stays_text(quiet: Browser, pages: Pages) -> None:
    page = quiet.open(pages.hostile)
    for button in page.locator("button.copy").all():
        button.click()
    for link in page.locator("a[href]").all():
        link.click()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img, iframe, object, embed").count() == 0
    assert page.locator("script").count() == 1
    body = page.inner_text("body")
    assert "<script>window.__pwned=1</script>" in body  # shown literally
    assert '<img src=x onerror="window.__pwned=7">\\u202egpj.scr' in body
    assert "javascript:" not in (page.eval_on_selector_all("a[href]", "as => as.map(a => a.href).join(' ')") or "")
    quiet.screenshot(page, "hostile")
    quiet.assert_quiet()

"""Headless Chromium (Debian's /usr/bin/chromium, through Playwright) on the generated HTML reports.

One browser for the whole directory, a fresh profile under the test's temp dir, every non-file request aborted
and recorded, every console message and page error recorded: the tests assert both lists stay empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Browser:
    """A browser context with its recorded traffic and console; `open(path)` gives a fresh page on file://."""

    context: Any
    shots: Path
    blocked: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def open(self, path: Path) -> Any:
        page = self.context.new_page()
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        page.on("request", lambda req: self.requests.append(req.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        return page

    def screenshot(self, page: Any, name: str) -> Path:
        target = self.shots / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        print(f"screenshot: {target}")
        return target

    def assert_quiet(self) -> None:
        """No request left file://, nothing was logged to the console, no script error."""
        assert self.blocked == []
        assert [u for u in self.requests if not u.startswith("file:")] == []
        assert self.console == []


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (.ci/sysdeps.sh installs it); browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    root = tmp_path_factory.mktemp("browser")
    shots = root / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(root / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
            offline=True,
        )
        state = Browser(context=context, shots=shots)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith("file:"):
                r.continue_()
            else:
                state.blocked.append(url)
                r.abort()

        context.route("**/*", route)
        try:
            yield state
        finally:
            context.close()


@pytest.fixture
def quiet(browser: Browser) -> Iterator[Browser]:
    """The browser with its records cleared before the test and checked after it."""
    browser.blocked.clear()
    browser.requests.clear()
    browser.console.clear()
    yield browser
    for page in browser.context.pages:
        page.close()

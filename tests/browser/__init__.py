"""Browser tests of the HTML report (Playwright on Debian's Chromium)."""

"""The report renders in a real headless browser: images load, no console errors, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow


def chromium() -> Path | None:
    """The system Chromium, if installed (CI installs Debian's package)."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return Path(candidate)
    return None


def test_report_renders_in_chromium(analysed, tmp_path):
    _, _, _, out = analysed
    browser_path = chromium()
    if browser_path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(browser_path),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        title = page.title()
        heading = page.inner_text("h1")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert errors == []
    assert images and all(complete and width > 0 for complete, width in images)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert "msclab report" in title and heading
    assert (tmp_path / "report.png").stat().st_size > 10_000

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


def _open(out: Path, work):
    """Run ``work(page)`` on the report in headless Chromium (no network, no downloaded browser)."""
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(browser_path),
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking", "--disable-component-update",
                                          "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            return work(page)
        finally:
            browser.close()


def test_report_does_not_mislead(analysed, tmp_path):
    """Issue 13, finding 8: every gate plot (controls too) as an enlargeable thumbnail, linked references,
    the verdict rule and the extrapolated flag explained, no words split in tables."""
    folder, _, result, out = analysed
    gate_plots = sorted(p.stem for p in result.plots["gates"])

    def work(page):
        found = {
            "thumbs": page.eval_on_selector_all(".thumbs img", "els => els.map(e => e.alt)"),
            "panels": page.eval_on_selector_all(".panelname", "els => els.map(e => e.textContent)"),
            "break_all": page.evaluate(
                "Array.from(document.querySelectorAll('td, th, figcaption'))"
                ".filter(e => getComputedStyle(e).wordBreak === 'break-all').length"),
            "doi_links": page.eval_on_selector_all("ol.refs a", "els => els.map(e => e.href)"),
            "ref_links": page.eval_on_selector_all("#effects ~ div table a[href^='#ref-'], .scroll a[href^='#ref-']",
                                                   "els => els.map(e => e.getAttribute('href'))"),
            "rules": page.inner_text("#rules + ul"),
        }
        thumb = page.locator(".thumbs label").first
        found["small"] = page.locator(".thumbs img").first.bounding_box()["width"]
        thumb.click()
        found["large"] = page.locator(".thumbs img").first.bounding_box()["width"]
        page.screenshot(path=str(tmp_path / "enlarged.png"))
        page.locator(".thumbs img").first.click()
        found["closed"] = page.locator(".thumbs img").first.bounding_box()["width"]
        return found

    found = _open(out, work)
    assert sorted(found["thumbs"]) == gate_plots
    assert any("fmo" in name for name in found["thumbs"])
    assert any("treg" in text for text in found["panels"])
    assert found["break_all"] == 0
    assert found["doi_links"] and all(u.startswith(("https://doi.org/", "https://pubmed.")) for u in found["doi_links"])
    assert found["ref_links"] and all(f"#{ref}" for ref in found["ref_links"])
    assert "0.26" in found["rules"] and "extrapolated" in found["rules"] and "ICH M10" in found["rules"]
    assert found["small"] < 200 < 800 < found["large"]
    assert found["closed"] < 200


def test_forest_arrow_points_where_suppression_should_lie():
    from msclab.report.forest import ARROWS, plotted_arrow

    assert plotted_arrow("down", "pct_suppression") == ARROWS["up"]
    assert plotted_arrow("down", "log2_ratio") == ARROWS["down"]
    assert plotted_arrow("no_change", "pct_suppression") == ARROWS["no_change"]


def test_gate_confidence_section_lists_every_flagged_gate(analysed, tmp_path):
    """The summary links to a Gate confidence section that lists each flagged gate of gate_qc.csv."""
    import pandas as pd

    _, _, _, out = analysed
    qc = pd.read_csv(out / "gate_qc.csv")
    flagged = qc[qc["flag"].fillna("") != ""]

    def work(page):
        page.click("#gate-confidence-summary a[href='#gate-confidence']")
        top = page.evaluate("document.getElementById('gate-confidence').getBoundingClientRect().top")
        page.eval_on_selector_all(".gate-qc-samples", "els => els.forEach(e => e.parentElement.open = true)")
        rows = page.eval_on_selector_all(".gate-qc-samples tbody tr",
                                         "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
        page.screenshot(path=str(tmp_path / "gate_confidence.png"))
        return top, rows

    top, rows = _open(out, work)
    assert abs(top) < 5  # the link scrolled the section to the top
    assert len(rows) == len(flagged)
    assert sorted((r[0], r[1], r[4]) for r in rows) == sorted(zip(flagged["sample_id"], flagged["gate"], flagged["flag"]))
    assert (tmp_path / "gate_confidence.png").stat().st_size > 10_000

"""End to end in headless Chromium: move a threshold in the page, save, rerun analyze.

The sample's population must then equal what ``msclab gate`` counts with its
override file, and every other sample must be unchanged. Screenshots go to
docs/img/review_*.png (shown in docs/review.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from msclab.cli import app
from msclab.experiment import read_experiment
from msclab.flow.overrides import override_path
from msclab.pipeline import Settings, analyze
from msclab.review.data import ReviewStudy
from msclab.review.server import ReviewServer

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SAMPLE, PANEL, GATE, NAME = "D1_pbmc", "treg", "FoxP3pos", "FoxP3+"


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_move_threshold_save_and_reanalyse(study, tmp_path):
    root, out = study
    srv = ReviewServer(ReviewStudy(out))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    IMG.mkdir(parents=True, exist_ok=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(srv.url)
            page.wait_for_selector(".card")
            assert "No gate_qc.csv" not in page.inner_text("#note")  # confidence colours the cards
            page.screenshot(path=str(IMG / "review_grid.png"))
            page.select_option("#gate", GATE)
            page.click(f".card[data-sample='{SAMPLE}'][data-gate='{GATE}']")
            edge = page.locator("#m-plot line.edge").first
            box = edge.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 60, y, steps=5)
            page.mouse.up()
            page.screenshot(path=str(IMG / "review_edit.png"))
            page.click("#m-save")
            playwright.expect(page.locator("#status")).to_contain_text("Saved 1 override", timeout=60000)
            page.wait_for_selector(f".card[data-sample='{SAMPLE}'][data-gate='{GATE}'] .ovr")
            page.screenshot(path=str(IMG / "review_saved.png"))
            browser.close()
    finally:
        srv.shutdown()
        srv.server_close()

    target = override_path(root, PANEL, SAMPLE)
    assert target.is_file()
    rerun = root / "rerun"
    analyze(root / "experiment.yaml", rerun, Settings(n_boot=100, plots=False))
    before = pd.read_csv(out / "populations.csv").set_index(["sample_id", "name"])
    after = pd.read_csv(rerun / "populations.csv").set_index(["sample_id", "name"])

    fcs = root / read_experiment(root / "experiment.yaml").files(PANEL).set_index("sample_id").loc[SAMPLE, "file"]
    gated = tmp_path / "gated"
    result = CliRunner().invoke(app, ["gate", str(fcs), "--strategy", str(target), "-o", str(gated)])
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(gated / "populations.csv").set_index("gate_id").loc[GATE, "count"]

    assert after.loc[(SAMPLE, NAME), "count"] == expected < before.loc[(SAMPLE, NAME), "count"]
    assert bool(after.loc[(SAMPLE, NAME), "override"]) is True
    others = [k for k in before.index if k[0] != SAMPLE]
    assert (after.loc[others, "count"] == before.loc[others, "count"]).all()
    assert not after.loc[others, "override"].any()
    report = (rerun / "report.html").read_text(encoding="utf-8")
    assert f"{SAMPLE} ({PANEL}; <code>{target}</code>" in report
    recorded = json.loads((rerun / "provenance.json").read_text())["steps"]["gate_overrides"][PANEL][SAMPLE]
    assert recorded["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()

"""`msclab analyze` end to end on a simulated study with known truth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import anndata as ad
import pandas as pd
from typer.testing import CliRunner

from msclab.cli import app

CONTRACT = {
    "populations.csv": ["sample_id", "population", "parent", "count", "pct_parent", "pct_total"],
    "concentrations.csv": ["plate", "well", "sample_id", "sample_type", "analyte", "signal", "concentration", "unit",
                           "flag", "ci_low", "ci_high", "dilution"],
    "curves.csv": ["plate", "analyte", "model", "weighting", "params", "lloq", "uloq", "accepted", "reason"],
    "effects.csv": ["readout", "contrast", "estimate", "ci_low", "ci_high", "p_value", "q_value", "n_donors", "unit"],
    "comparison.csv": ["effect_id", "readout", "context", "expected", "observed", "ci_low", "ci_high", "verdict",
                       "evidence", "references"],
}


def test_every_contract_output_is_written_with_its_columns(analysed):
    _, _, _, out = analysed
    for name in ("report.html", "readouts.h5ad", "readouts.csv", "provenance.json"):
        assert (out / name).is_file(), name
    for name, columns in CONTRACT.items():
        table = pd.read_csv(out / name)
        assert list(table.columns[: len(columns)]) == columns or set(columns) <= set(table.columns), name
    assert not list(out.glob(".*.part*")), "no temporary file is left behind"


def test_readouts_hold_flow_and_cytokine_values_for_every_sample(analysed):
    _, truth, _, out = analysed
    readouts = ad.read_h5ad(out / "readouts.h5ad")
    assert set(readouts.obs_names) == set(truth["samples"])
    kinds = set(readouts.var["kind"])
    assert {"frequency", "concentration"} <= kinds
    assert (readouts.obs["status"] == "ok").all()


def test_cytokine_concentrations_recover_the_planted_values(analysed):
    _, truth, result, _ = analysed
    wells = result.concentrations
    unknown = wells[(wells["sample_type"] == "unknown") & (wells["flag"] == "ok")]
    errors = []
    for row in unknown.itertuples():
        planted = truth["samples"][row.sample_id]["concentrations"][row.analyte]
        errors.append(abs(row.concentration - planted) / planted)
    assert len(errors) > 20
    assert pd.Series(errors).median() < 0.10
    # Every truly out-of-range well is flagged (never reported as a plain in-range value), once it is
    # out of range by more than the accuracy ICH M10 accepts at the ends of the range (25%): closer
    # than that, a well is indistinguishable from the limit itself.
    for analyte, plate in truth["elisa"].items():
        low, high = 0.75 * plate["lowest_standard"], 1.25 * plate["top_standard"]
        for w in plate["wells"]:
            if not low <= w["in_well"] <= high:
                flag = wells[(wells["plate"] == w["plate"]) & (wells["well"] == w["well"])]["flag"].iloc[0]
                assert flag != "ok", (analyte, w)


def test_planted_directions_are_never_called_the_other_way(analysed):
    _, truth, result, _ = analysed
    table = result.comparison.table
    one_to_ten = table[(table["contrast"] == "msc_1to10") & table["scored"].fillna(False).astype(bool)]
    assert len(one_to_ten) >= 8
    for row in one_to_ten.itertuples():
        planted = truth["effects"].get(row.effect_id)
        # Planted as the literature expects: never discordant (and mostly concordant).
        if planted == row.expected:
            assert row.verdict != "discordant", row
    assert (one_to_ten["verdict"] == "concordant").mean() >= 0.6


def test_provenance_records_inputs_parameters_and_versions(analysed):
    folder, truth, _, out = analysed
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["command"] == "analyze"
    hashed = {os.path.basename(i["path"]) for i in prov["inputs"]}
    assert {os.path.basename(f) for f in truth["files"]} <= hashed
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"])
    assert prov["parameters"]["seed"] == 0
    assert "flowkit" in prov["dependencies"]


def test_report_is_self_contained(analysed):
    _, _, _, out = analysed
    html = (out / "report.html").read_text()
    assert "<img" in html and "data:image/png;base64," in html
    # Nothing is loaded from the network; links a reader may follow (reference DOIs) are allowed.
    for marker in ('src="http', "src='http", "<script src", 'rel="stylesheet"', "url(http", "@import"):
        assert marker not in html
    assert 'href="https://doi.org/' in html


def test_a_broken_file_fails_its_sample_only_and_exits_1(analysed, tmp_path):
    folder, _, _, _ = analysed
    study = tmp_path / "study"
    shutil.copytree(folder, study, ignore=shutil.ignore_patterns("analysis"))
    broken = study / "fcs" / "D2_msc10_th_ics.fcs"
    broken.write_bytes(broken.read_bytes()[:4000])  # truncated during a copy
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", str(study / "experiment.yaml"), "-o", str(tmp_path / "out"), "--no-plots",
                                 "--n-boot", "200"])
    assert result.exit_code == 1, result.output
    assert "D2_msc10" in result.output
    readouts = ad.read_h5ad(tmp_path / "out" / "readouts.h5ad")
    # Only the Th-ICS file failed: the culture keeps its Treg and ELISA readouts and stays in the contrasts.
    assert readouts.obs.loc["D2_msc10", "status"] == "ok"
    assert "flow:th_ics" in readouts.obs.loc["D2_msc10", "status_reason"]
    assert (readouts.obs["status"] == "ok").all()
    assert "Traceback" not in result.output


def test_the_command_line_runs_as_a_user_would(analysed, tmp_path):
    folder, _, _, _ = analysed
    proc = subprocess.run([sys.executable, "-m", "msclab", "analyze", str(folder / "experiment.yaml"), "-o",
                           str(tmp_path / "cli"), "--no-plots", "--n-boot", "200"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli" / "report.html").is_file()


def test_dose_trend_follows_the_planted_dose_response(analysed):
    _, _, result, out = analysed
    trends = pd.read_csv(out / "trends.csv")
    ids = result.readouts.var["catalogue_id"]
    trends["catalogue_id"] = trends["readout"].map(ids)
    # Planted: half of the 1:10 effect (log scale) at 1:50, so effects grow with the MSC dose.
    th1 = trends[(trends["catalogue_id"] == "th1_frequency") & trends["readout"].str.endswith("pct_parent")]
    prolif = trends[trends["catalogue_id"] == "t_prolif_cd4"]
    assert len(th1) == 1 and th1["slope"].iloc[0] < 0
    assert len(prolif) == 1 and prolif["slope"].iloc[0] > 0 and prolif["p_slope"].iloc[0] < 0.05
    assert set(trends["contrast"]) == {"dose:msc_1to10+msc_1to50"}

"""``msclab assay fit`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from typer.testing import CliRunner

from msclab.cli import app
from msclab.cli import assay as assay_cli
from msclab.io.assay_export import AssayExport

XPONENT = "assay_exports/luminex_xponent/xponent31_cytokine30plex_quan_pone0187901_s001.csv"


def _run(monkeypatch, args: list[str]) -> int:
    return CliRunner().invoke(app, args).exit_code


def test_fit_writes_contract_columns(tmp_path, monkeypatch, sim):
    rng = np.random.default_rng(0)
    table = pd.concat([sim.simulate_plate(rng, analyte=a) for a in ("IL6", "IL10")])
    table.loc[table["analyte"] == "IL10", "signal"] = rng.lognormal(6, 0.3, (table["analyte"] == "IL10").sum())
    source = tmp_path / "export.csv"
    table.to_csv(source, index=False)
    export = AssayExport(table=table.drop(columns="true_concentration"), path=source, format="test",
                         metadata={"units": {"IL6": "pg/mL", "IL10": "pg/mL"}}, leniencies=["a leniency"])
    monkeypatch.setattr(assay_cli, "_read", lambda path, layout, fmt, beads=None: export)
    out = tmp_path / "out"
    code = _run(monkeypatch, ["assay", "fit", str(source), "-o", str(out), "--model", "4pl"])
    assert code == 1  # IL10 is noise: its curve fails and is listed
    conc = pd.read_csv(out / "concentrations.csv")
    assert list(conc.columns[:12]) == ["plate", "well", "sample_id", "sample_type", "analyte", "signal",
                                       "concentration", "unit", "flag", "ci_low", "ci_high", "dilution"]
    curves = pd.read_csv(out / "curves.csv")
    assert list(curves.columns[:9]) == ["plate", "analyte", "model", "weighting", "params", "lloq", "uloq",
                                        "accepted", "reason"]
    il6 = curves.set_index("analyte").loc["IL6"]
    assert il6["accepted"] and set(json.loads(il6["params"])) >= {"A", "B", "C", "D", "F"}
    assert not curves.set_index("analyte").loc["IL10", "accepted"]
    assert (conc.loc[conc["analyte"] == "IL10", "flag"] == "fit_failed").all()
    assert len(list((out / "plots").glob("*.png"))) == 2
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["parameters"]["model"] == "4pl" and prov["inputs"][0]["sha256"]
    assert prov["leniencies"][str(source)] == ["a leniency"]


def test_bad_model_is_exit_2(tmp_path, monkeypatch):
    code = _run(monkeypatch, ["assay", "fit", str(tmp_path / "x.csv"), "-o", str(tmp_path), "--model", "7pl"])
    assert code == 2


@pytest.mark.shared_data
def test_fit_real_xponent_export(shared_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    code = _run(monkeypatch, ["assay", "fit", str(shared_data / XPONENT), "-o", str(out),
                              "--weight-floor", "1", "--no-plots"])
    assert code == 0
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 30 and curves["accepted"].all() and (curves["unit"] == "pg/mL").all()

"""A bead-array plate read on a cytometer, end to end: files -> beads -> standard curves -> concentrations.

The plate is built from the real LEGENDplex file: every well is that file with its reporter
(PE, FL2-H) scaled by a known four-parameter logistic of the relative concentration, so each
analyte's true concentration in each well is planted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from msclab.cli import app
from msclab.flow.beads import load_panel
from msclab.io import read_fcs

PANEL = "protocols/legendplex/human_growth_factor_13plex.yaml"


def _response(relative: float) -> float:
    """Planted reporter scale at a relative concentration (4PL: a=0.02, d=1, EC50=0.02, slope 1)."""
    return 1.0 + (0.02 - 1.0) / (1.0 + (relative / 0.02) ** 1.0)


def _write(path, events, names):
    import flowio

    with open(path, "wb") as handle:
        flowio.create_fcs(handle, events.astype(np.float32).ravel(), names)


@pytest.mark.shared_data
def test_bead_plate_back_calculates_planted_concentrations(shared_data, repo_root, tmp_path):
    real = read_fcs(shared_data / "assay_exports/legendplex_fcs/legendplex_K2-C07-A7_cytoflex.fcs")
    events, names = np.asarray(real.X, float), list(real.var_names)
    pe = names.index("FL2-H")
    panel = load_panel(repo_root / PANEL)
    plate = tmp_path / "plate1"
    plate.mkdir()
    for k, level in enumerate(panel.standard_levels):  # C7 (top) .. C1, 4-fold
        scaled = events.copy()
        scaled[:, pe] *= _response(1.0 / panel.standard_fold ** k)
        for well in (f"A{2 * k + 1}", f"A{2 * k + 2}"):
            _write(plate / f"{level}_{well}.fcs", scaled, names)
    planted = {"S1": 0.05, "S2": 0.004, "S3": 0.0003}  # relative to each analyte's top standard
    for i, (sample, relative) in enumerate(planted.items()):
        scaled = events.copy()
        scaled[:, pe] *= _response(relative)
        _write(plate / f"{sample}_B{i + 1}.fcs", scaled, names)

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["assay", "fit", str(plate), "--beads", str(repo_root / PANEL), "--model", "4pl",
                                      "-o", str(out), "--no-plots"])
    assert result.exit_code in (0, 1), result.output
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 13 and curves["accepted"].all()
    conc = pd.read_csv(out / "concentrations.csv")
    samples = conc[conc["sample_type"] == "unknown"]
    tops = panel.beads.set_index("analyte")["top_concentration"]
    for row in samples.itertuples():
        truth = planted[row.sample_id] * tops[row.analyte]
        if row.flag == "ok":
            assert row.concentration == pytest.approx(truth, rel=0.05), row
    # S1 and S2 sit well inside the standards (C7 = top down to C1 = top / 4^6); S3 is near the bottom.
    assert (samples[samples["sample_id"].isin(["S1", "S2"])]["flag"] == "ok").all()

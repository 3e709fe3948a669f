"""msclab.pl.curve draws on the caller's Axes and returns it; the file-writing path uses no pyplot."""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

import msclab


def test_curve_draws_on_the_given_axes(repo_root, tmp_path):
    elisa = repo_root / "example_data" / "elisa"
    export = msclab.io.read_assay(elisa / "ifng_plate1.csv", layout=elisa / "ifng_plate1_layout.csv", analyte="IFN-g")
    result = msclab.assay.quantify(export, n_jobs=1)
    cal = next(iter(result.calibrations.values()))
    backend = matplotlib.get_backend()
    ax = Figure().subplots()
    assert msclab.pl.curve(cal, ax=ax) is ax
    assert ax.get_xscale() == "log"
    standards = ax.collections[0].get_offsets()
    assert len(standards) == int((~cal.standards["masked"]).sum())
    assert len(ax.lines) >= 1 + 2  # the fitted curve and the LLOQ/ULOQ lines
    from msclab.assay.plots import save_curve_plots

    written = save_curve_plots(result, tmp_path)
    assert [p.suffix for p in written] == [".png"] and written[0].read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == backend

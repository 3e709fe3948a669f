"""LEGENDplex bead identification on beadplexr's real CytoFLEX file."""

from __future__ import annotations

import numpy as np
import pytest

from msclab.assay.quantification import quantify
from msclab.flow.beads import bead_export, identify_beads, load_panel, read_bead_events

FCS = "assay_exports/legendplex_fcs/legendplex_K2-C07-A7_cytoflex.fcs"


@pytest.fixture(scope="module")
def panel(repo_root):
    return load_panel(repo_root / "protocols" / "legendplex" / "human_growth_factor_13plex.yaml")


@pytest.mark.shared_data
def test_one_cluster_per_bead_of_the_growth_factor_panel(shared_data, panel):
    # SOURCES.md: LEGENDplex Human Growth Factor 13-plex, top standard C7, CytoFLEX
    # (FL6 = APC bead ID, FL2 = PE reporter). The panel has 13 beads: group A
    # (small) A4, A5, A6, A7, A8, A10 and group B (large) B2-B7, B9.
    events = read_bead_events(shared_data / FCS)
    labelled, separation = identify_beads(events, panel)
    counts = labelled["bead"].value_counts()
    assert set(counts.index) - {""} == set(panel.beads["bead"])
    assert len(panel.beads) == 13
    assert counts.drop("").min() >= 100  # measured 257 .. 435 events per bead
    assert all(s > 5 for s in separation.values())  # measured A 7.0, B 23.1: chosen peaks >> any other bump
    for group in ("A", "B"):
        sub = labelled[labelled["group"] == group]
        medians = sub[sub["bead"] != ""].groupby("bead")["FL6-H"].median()
        ids = list(panel.beads.loc[panel.beads["group"] == group, "bead"])
        assert np.all(np.diff(medians[ids].to_numpy()) > 0)  # ordered by APC like the IDs
    a_fsc = labelled.loc[labelled["group"] == "A", "FSC-A"].median()
    b_fsc = labelled.loc[labelled["group"] == "B", "FSC-A"].median()
    assert a_fsc < b_fsc


@pytest.mark.shared_data
def test_bead_export_feeds_quantify(shared_data, panel):
    export = bead_export({shared_data / FCS: {"well": "A7", "sample_type": "standard", "level": "C7"}}, panel)
    table = export.table
    assert len(table) == 13 and (table["bead_count"] >= 100).all()
    vegf = table.set_index("analyte").loc["VEGF"]
    assert vegf["expected_concentration"] == 50000 and vegf["signal"] > 0
    result = quantify(export)  # one standard level: every curve fails, nothing raises
    assert (result.wells["flag"] == "fit_failed").all()

"""A data-driven protocol on FlowSOM's real 68983.fcs agrees with FlowJo's manual gating.

FlowJo's counts are read from the workspace (test_data.md §2.2); no gate
coordinate is taken from it: every msclab threshold is a density valley.
"""

from __future__ import annotations

import numpy as np
import pytest

from msclab.flow.gating import Events, flowjo_counts, gate_events
from msclab.flow.populations import population_table
from msclab.flow.protocols import SampleEvents, load_protocol, resolve_protocol
from msclab.io import read_fcs

# msclab population -> (FlowJo population, FlowJo parent)
PAIRS = {
    "T cells": ("T cells", "NK1_1-"),
    "B cells": ("B cells", "NK1_1-"),
    "NK cells": ("NK cells", "NK1_1+"),
    "CD4 T cells": ("CD4 T cells", "ab T cells"),
    "CD8 T cells": ("CD8 T cells", "ab T cells"),
}


@pytest.mark.shared_data
def test_mouse_lineage_matches_flowjo(shared_data):
    folder = shared_data / "flowjo_workspaces" / "flowsom_68983"
    protocol = load_protocol("mouse_lineage")
    events = SampleEvents.from_anndata(read_fcs(folder / "68983.fcs"), "68983", scale=protocol.transforms)
    resolution = resolve_protocol(protocol, {"68983": events})
    assert resolution.failures == {}
    # masks are built once by the resolver: the engine on the resolved (compensated) tree finds the same events
    rs = resolution.samples["68983"]
    engine = gate_events(rs.tree, Events.from_anndata(read_fcs(folder / "68983.fcs"), "68983"))
    assert all(np.array_equal(engine.membership[pid], rs.membership[name]) for name, pid in rs.ids.items())
    mine = population_table(resolution.samples["68983"]).set_index("name")["pct_parent"]
    flowjo = {p.rsplit("/", 1)[-1]: c for p, c in flowjo_counts(folder / "gating.wsp").set_index("population")["count"].items()}
    for name, (fj_name, fj_parent) in PAIRS.items():
        expected = 100 * flowjo[fj_name] / flowjo[fj_parent]
        assert abs(mine[name] - expected) <= 2.0, f"{name}: msclab {mine[name]:.2f}% vs FlowJo {expected:.2f}%"

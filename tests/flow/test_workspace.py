"""FlowJo workspaces: msclab's engine reproduces the count= values FlowJo stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from msclab.errors import MsclabError
from msclab.flow.gating import Events, flowjo_counts, gate_events, read_strategy, read_workspace
from msclab.io import read_fcs

pytestmark = pytest.mark.shared_data

DIAMOND = "flowjo_workspaces/flowkit_simple_diamond"


def _compare(shared_data: Path, wsp: str, fcs: str) -> list[tuple[str, int, int]]:
    """Return (population, msclab count, FlowJo count) for every population of the sample."""
    path = shared_data / wsp
    sample = Path(fcs).name
    tree = read_workspace(path)[sample]
    result = gate_events(tree, Events.from_anndata(read_fcs(shared_data / fcs), sample)).table()
    flowjo = flowjo_counts(path)
    flowjo = dict(zip(flowjo.loc[flowjo.sample_id == sample, "population"], flowjo.loc[flowjo.sample_id == sample, "count"]))
    assert set(result.population) <= set(flowjo)
    return [(pop, int(n), int(flowjo[pop])) for pop, n in zip(result.population, result["count"])]


@pytest.mark.parametrize("wsp", ["simple_diamond_example_quad_gate.wsp", "test_data_diamond_asinh_rect.wsp",
                                 "test_data_diamond_asinh_rect2.wsp", "test_data_diamond_biex_rect.wsp"])
def test_diamond_counts_exact(shared_data: Path, wsp: str) -> None:
    rows = _compare(shared_data, f"{DIAMOND}/{wsp}", f"{DIAMOND}/test_data_diamond_01.fcs")
    assert rows and all(ours == theirs for _, ours, theirs in rows), rows


def test_quadrant_counts_are_flowjos(shared_data: Path) -> None:
    rows = _compare(shared_data, f"{DIAMOND}/simple_diamond_example_quad_gate.wsp", f"{DIAMOND}/test_data_diamond_01.fcs")
    assert [ours for _, ours, _ in rows] == [49671, 50596, 50330, 49403]


def test_ellipse_counts_exact(shared_data: Path) -> None:
    rows = _compare(shared_data, "flowjo_workspaces/flowkit_simple_line/single_ellipse_51_events.wsp",
                    "flowjo_workspaces/flowkit_simple_line/data_set_simple_line_100.fcs")
    assert rows == [("/ellipse1", 51, 51)]


def test_flowsom_workspace_within_half_percent(shared_data: Path) -> None:
    rows = _compare(shared_data, "flowjo_workspaces/flowsom_68983/gating.wsp", "flowjo_workspaces/flowsom_68983/68983.fcs")
    assert len(rows) == 15
    for pop, ours, theirs in rows:
        assert abs(ours - theirs) <= 0.005 * theirs, (pop, ours, theirs)
    assert dict((p, o) for p, o, _ in rows)["/Lymphocytes/Singlets/Singlets2/NK1_1-/T cells/ab T cells/CD8 T cells"] == 1407


def test_strategy_matches_samples_by_file_name(shared_data: Path) -> None:
    strategy = read_strategy(shared_data / "flowjo_workspaces/flowsom_68983/gating.wsp")
    assert strategy.kind == "flowjo"
    with pytest.raises(MsclabError, match="no sample named 'other.fcs'"):
        strategy.tree_for("other.fcs")


def test_not_a_workspace_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.wsp"
    bad.write_text("<Workspace><unclosed></Workspace>")
    with pytest.raises(MsclabError, match="not readable as a FlowJo workspace"):
        read_workspace(bad)

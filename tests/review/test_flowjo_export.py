"""FlowJo workspace export: re-imported by FlowKit and by msclab's reader, it gates the same events.

The reference counts are msclab's own (``populations.csv`` of the analysis, or the engine on
the original tree); the workspace is read back by two independent readers (FlowKit's
``Workspace``, which evaluates gates with its own code, and ``read_workspace``) and gated again.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from msclab.cli import app
from msclab.errors import MsclabError
from msclab.experiment import read_experiment
from msclab.flow.compensation import spillover_from_fcs
from msclab.flow.gating import (
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    Events,
    GateTree,
    PolygonGate,
    Population,
    QuadrantGate,
    RectangleGate,
    flowjo_counts,
    gate_events,
    read_gatingml,
    read_workspace,
    write_gatingml,
)
from msclab.flow.gating.workspace_write import WorkspaceSample, write_workspace
from msclab.flow.overrides import override_path
from msclab.flow.transforms import Asinh, FlowJoBiex, FlowJoLog, Linear, Logicle
from msclab.io import open_fcs
from msclab.pipeline import Settings, analyze

PANEL = "treg"


def _path(row) -> str:
    return "/" + "/".join([*[p for p in row.gate_path if p != "root"], row.gate_name])


def flowkit_counts(wsp: Path) -> dict[tuple[str, str], int]:
    """(sample node name, population path) -> count, gated by FlowKit from the FCS files the workspace names."""
    import flowkit as fk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workspace = fk.Workspace(str(wsp), find_fcs_files_from_wsp=True)
        workspace.analyze_samples(use_mp=False)
        report = workspace.get_analysis_report()
    return {(r.sample_id, _path(r)): int(r.count) for r in report.itertuples()}


def msclab_counts(wsp: Path, fcs: dict[str, Path]) -> dict[tuple[str, str], int]:
    """The same, with msclab's workspace reader and gating engine."""
    out = {}
    for name, tree in read_workspace(wsp).items():
        result = gate_events(tree, Events.from_fcs(open_fcs(fcs[name]), name))
        out |= {(name, tree.path(pid)): int(m.sum()) for pid, m in result.membership.items()}
    return out


def _files(root: Path) -> dict[str, Path]:
    exp = read_experiment(root / "experiment.yaml")
    return {sid: root / f for sid, f in zip(exp.files(PANEL)["sample_id"], exp.files(PANEL)["file"], strict=True)}


def _expected(out: Path, files: dict[str, Path]) -> dict[tuple[str, str], int]:
    pops = pd.read_csv(out / "populations.csv", dtype={"sample_id": str}).query("panel == @PANEL")
    return {(files[s].name, p): int(c) for s, p, c in zip(pops["sample_id"], pops["population"], pops["count"],
                                                           strict=True)}


def test_analyze_writes_a_workspace_with_identical_counts(reviewed_study):
    root, out = reviewed_study
    wsp = out / "gates" / f"{PANEL}.wsp"
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["steps"]["flowjo_workspaces"][PANEL] == str(wsp)
    files = _files(root)
    expected = _expected(out, files)
    assert len(expected) > 50
    assert flowkit_counts(wsp) == expected
    assert msclab_counts(wsp, {f.name: f for f in files.values()}) == expected
    stored = flowjo_counts(wsp).query("population != '/'")
    assert dict(zip(zip(stored["sample_id"], stored["population"]), stored["count"])) == expected


def test_workspace_structure_is_flowjo_s(reviewed_study):
    """Samples with their FCS file, the file's spillover as Comp- parameters, one transform per channel."""
    import xml.etree.ElementTree as ET

    root, out = reviewed_study
    xml = ET.parse(out / "gates" / f"{PANEL}.wsp").getroot()
    samples = xml.findall("SampleList/Sample")
    files = _files(root)
    assert sorted(s.find("SampleNode").get("name") for s in samples) == sorted(f.name for f in files.values())
    first = samples[0]
    name = first.find("SampleNode").get("name")
    fcs = open_fcs(next(f for f in files.values() if f.name == name))
    spill = spillover_from_fcs(fcs)
    xf = "{http://www.isac-net.org/std/Gating-ML/v2.0/transformations}"
    matrix = first.find(f"{xf}spilloverMatrix")
    assert matrix.get("name") == "Acquisition-defined" and matrix.get("prefix") == "Comp-"
    rows = matrix.findall(f"{xf}spillover")
    values = np.array([[float(c.get(f"{xf}value")) for c in r.findall(f"{xf}coefficient")] for r in rows])
    np.testing.assert_array_equal(values, spill.matrix)
    params = [t[0].get("{http://www.isac-net.org/std/Gating-ML/v2.0/datatypes}name")
              for t in first.find("Transformations")]
    assert len(params) == len(set(params))
    assert int(first.find("SampleNode").get("count")) == fcs.n_events


@pytest.mark.slow
def test_override_is_exported(study):
    """After an override and a new analysis, the workspace holds the override's gate and its counts."""
    root, out = study
    sample = "D1_pbmc"
    tree = read_gatingml(out / "gates" / f"{sample}_{PANEL}.xml")
    pop = tree.populations["FoxP3pos"]
    (lo, hi), = pop.gate.bounds
    tree.populations["FoxP3pos"] = replace(pop, gate=replace(pop.gate, bounds=((lo + 0.05, hi),)))
    target = override_path(root, PANEL, sample)
    target.parent.mkdir(parents=True)
    write_gatingml(tree, target)
    before = _expected(out, _files(root))
    shutil.rmtree(out)
    analyze(root / "experiment.yaml", out, Settings(n_boot=100, plots=False))
    files = _files(root)
    expected = _expected(out, files)
    name = files[sample].name
    changed = {k for k in expected if expected[k] != before[k]}
    assert changed and {k[0] for k in changed} == {name}
    wsp = out / "gates" / f"{PANEL}.wsp"
    assert flowkit_counts(wsp) == expected
    assert msclab_counts(wsp, {f.name: f for f in files.values()}) == expected
    qc = pd.read_csv(out / "gate_qc.csv", dtype={"sample_id": str})
    assert set(qc.loc[qc["override"], "sample_id"]) == {sample}


def test_review_export_wsp_option(study):
    root, out = study
    (out / "gates" / f"{PANEL}.wsp").unlink()
    result = CliRunner().invoke(app, ["review", str(out), "--export-wsp"])
    assert result.exit_code == 0, result.output
    assert f"{PANEL}.wsp" in result.output
    assert flowkit_counts(out / "gates" / f"{PANEL}.wsp") == _expected(out, _files(root))


def _sample_tree(fcs) -> GateTree:
    """Every gate shape and FlowJo scale msclab exports, on one simulated file (cuts at the data's quantiles)."""
    xforms = {"lin": Linear(T=262144.0), "asinh": Asinh(T=262144.0, M=4.5, A=0.5),
              "log": FlowJoLog(offset=10.0, decades=4.5), "biex": FlowJoBiex(),
              "logicle": Logicle(T=262144.0, W=0.5, M=4.5, A=0.0)}
    tree = GateTree(transforms=dict(xforms))
    names = [str(c) for c in fcs.var.index]
    data = spillover_from_fcs(fcs).compensate(fcs.read_events(scale=True), names, dtype=float)

    def cut(channel: str, xform: str, q: float) -> float:
        return float(np.quantile(xforms[xform].apply(data[:, names.index(channel)]), q))

    fsc, ssc = Dimension("FSC-A", "FCS", "lin"), Dimension("SSC-A", "FCS", "lin")
    ch = [c for c in names if c not in {"FSC-A", "SSC-A", "FSC-H", "Time"}]
    a, b, c, d = (Dimension(ch[0], "FCS", "asinh"), Dimension(ch[1], "FCS", "log"), Dimension(ch[2], "FCS", "biex"),
                  Dimension(ch[3], "FCS", "logicle"))
    x0, x1, y0, y1 = cut("FSC-A", "lin", 0.05), cut("FSC-A", "lin", 0.9), cut("SSC-A", "lin", 0.05), cut("SSC-A", "lin", 0.9)
    tree.add(Population("cells", PolygonGate((fsc, ssc), ((x0, y0), (x1, y0 * 1.2), (x1 * 0.9, y1), (x0 * 1.1, y1)))))
    a_cut, d_cut = cut(ch[0], "asinh", 0.5), cut(ch[3], "logicle", 0.4)
    tree.add(Population("a_pos", RectangleGate((a,), ((a_cut, None),)), "cells", name="A+"))
    tree.add(Population("b_lo", RectangleGate((b,), ((None, cut(ch[1], "log", 0.3)),), complement=True), "cells",
                        name="B not low"))
    tree.add(Population("c_mid", RectangleGate((c, d), ((cut(ch[2], "biex", 0.2), cut(ch[2], "biex", 0.8)),
                                                        (cut(ch[3], "logicle", 0.1), cut(ch[3], "logicle", 0.9)))),
                        "cells", name="C D mid"))
    quad = QuadrantGate((a, d), "q", (Divider("qa", a, (a_cut,)), Divider("qd", d, (d_cut,))),
                        {"pp": {"qa": a_cut + 1, "qd": d_cut + 1}, "nn": {"qa": a_cut - 1, "qd": d_cut - 1}})
    tree.add(Population("pp", quad, "cells", name="A+D+", quadrant="pp"))
    tree.add(Population("nn", quad, "cells", name="A-D-", quadrant="nn"))
    tree.add(Population("both", BooleanGate("and", (("a_pos", False), ("c_mid", False))), "cells", name="A+ and C"))
    tree.add(Population("either", BooleanGate("or", (("a_pos", False), ("b_lo", False))), "cells", name="A or B"))
    tree.add(Population("not_a", BooleanGate("not", (("a_pos", False),)), "cells", name="not A"))
    tree.validate()
    return tree


def test_every_shape_and_scale_round_trips(reviewed_study, tmp_path):
    """Polygon, rectangles (open, complemented), quadrants, and/or/not; linear, asinh, log, biex, logicle."""
    root, _ = reviewed_study
    files = sorted(_files(root).values())[:2]
    samples, expected = [], {}
    for path in files:
        fcs = open_fcs(path)
        tree = _sample_tree(fcs)
        result = gate_events(tree, Events.from_fcs(fcs, path.name))
        counts = {tree.path(pid): int(m.sum()) for pid, m in result.membership.items()}
        assert all(0 < n < fcs.n_events for n in counts.values()), counts  # every gate really cuts
        expected |= {(path.name, p): n for p, n in counts.items()}
        samples.append(WorkspaceSample(path.name, path, tree, [str(c) for c in fcs.var.index], list(fcs.var["pns"]),
                                       fcs.n_events, spillover_from_fcs(fcs), fcs.keywords, counts))
    wsp = tmp_path / "all.wsp"
    write_workspace(samples, wsp, group="test")
    assert flowkit_counts(wsp) == expected
    assert msclab_counts(wsp, {f.name: f for f in files}) == expected


def test_what_flowjo_cannot_store_is_refused(reviewed_study, tmp_path):
    root, _ = reviewed_study
    path = sorted(_files(root).values())[0]
    fcs = open_fcs(path)
    tree = _sample_tree(fcs)
    dims = tree.populations["c_mid"].gate.dimensions
    bad_trees = {
        "Ellipsoid": replace(tree, populations={**tree.populations, "c_mid": Population(
            "c_mid", EllipsoidGate(dims, (2000.0, 0.4), ((1e5, 0.0), (0.0, 0.01)), 1.0), "cells")}),
        "complement": replace(tree, populations={**tree.populations, "both": Population(
            "both", BooleanGate("and", (("a_pos", True), ("c_mid", False))), "cells")}),
    }
    for word, bad in bad_trees.items():
        sample = WorkspaceSample(path.name, path, bad, [str(c) for c in fcs.var.index], list(fcs.var["pns"]),
                                 fcs.n_events, spillover_from_fcs(fcs))
        with pytest.raises(MsclabError, match=word):
            write_workspace([sample], tmp_path / "bad.wsp")
        assert not (tmp_path / "bad.wsp").exists()

"""``analyze`` gives the same outputs whether its independent steps run in forked processes or here.

``msclab analyze`` gates every panel in a process of its own, fits the assays in another while it
gates, and writes the FlowJo workspaces, the dose trends and the report's forest plot in the
background (:mod:`msclab.pipeline`). With forking refused (as in a Dask worker or a notebook with
threads) every step runs in the calling process, one after the other; the files must not differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msclab import _parallel
from msclab.pipeline import Settings, analyze
from msclab.provenance import Provenance
from msclab.simulate import StudyDesign, simulate_study

#: Output files whose bytes depend on nothing but the analysis (provenance and the report hold times and paths).
SKIP = {"provenance.json", "report.html", "readouts.h5ad"}


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in SKIP}


def _steps(out: Path) -> str:
    steps = json.loads((out / "provenance.json").read_text())["steps"]
    return json.dumps(steps, sort_keys=False).replace(str(out), "OUT")


def test_forked_steps_write_what_one_process_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if _parallel.fork_context() is None or _parallel.n_processes(None, 10) < 2:
        pytest.skip("needs fork and two cores")
    study = tmp_path / "study"
    simulate_study(study, StudyDesign(donors=3, events=2000, seed=5, panels=("th_ics", "treg")))
    settings = Settings(n_boot=200)
    forked = analyze(study / "experiment.yaml", tmp_path / "forked", settings)
    with monkeypatch.context() as m:
        m.setattr(_parallel, "fork_context", lambda: None)
        here = analyze(study / "experiment.yaml", tmp_path / "here", settings)

    a, b = _files(tmp_path / "forked"), _files(tmp_path / "here")
    assert a.keys() == b.keys()
    assert len([k for k in a if k.endswith(".png")]) >= 12  # gate plots and standard curves
    assert any(k.endswith(".wsp") for k in a) and any(k.startswith("gates/") for k in a)
    assert [k for k in a if a[k] != b[k]] == []
    # provenance: the same steps in the same order (the assays' record, made apart, is merged after the panels)
    assert _steps(tmp_path / "forked").replace("forked", "X") == _steps(tmp_path / "here").replace("here", "X")
    steps = forked.provenance.steps
    assert list(steps["assays"]) == [assay.id for assay in forked.experiment.spec.assays]
    assert set(steps["resolved_gates"]) == {"th_ics", "treg"} == set(steps["flowjo_workspaces"])
    assert here.comparison.score == forked.comparison.score


def test_merged_provenance_keeps_inputs_once_and_joins_steps(tmp_path: Path):
    file = tmp_path / "plate.csv"
    file.write_text("x\n")
    main, apart = Provenance("analyze"), Provenance("analyze")
    main.add_input(file, "assay")
    main.steps["gating"] = {"th_ics": {"n": 1}}
    main.steps["control_fallbacks"] = [{"sample_id": "a"}]
    apart.add_input(file, "assay")
    apart.add_leniency(file, "decimal comma")
    apart.steps["gating"] = {"treg": {"n": 2}}
    apart.steps["control_fallbacks"] = [{"sample_id": "b"}]
    apart.steps["assays"] = {"elisa": {"masks": []}}
    main.merge(apart)
    assert [entry["path"] for entry in main.inputs] == [str(file)]
    assert main.leniencies == {str(file): ["decimal comma"]}
    assert main.steps == {"gating": {"th_ics": {"n": 1}, "treg": {"n": 2}},
                          "control_fallbacks": [{"sample_id": "a"}, {"sample_id": "b"}],
                          "assays": {"elisa": {"masks": []}}}

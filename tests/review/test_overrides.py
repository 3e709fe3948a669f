"""Gate overrides: the file format, what analyze does with one, and the checks of msclab validate."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from msclab.cli import app
from msclab.errors import MsclabError
from msclab.experiment import read_experiment
from msclab.flow.gating import read_gatingml, read_strategy, write_gatingml
from msclab.flow.overrides import check_overrides, load_overrides, override_path
from msclab.flow.gating.run import gate_files
from msclab.flow.panel import quantify_panel
from msclab.provenance import Provenance

SAMPLE, PANEL, GATE, NAME = "D1_pbmc", "treg", "FoxP3pos", "FoxP3+"


def _populations(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "populations.csv", dtype={"sample_id": str})


def _raise_threshold(tree, gate: str, by: float):
    pop = tree.populations[gate]
    (lo, hi), = pop.gate.bounds
    tree.populations[gate] = replace(pop, gate=replace(pop.gate, bounds=((lo + by, hi),)))
    return tree


def test_unchanged_override_gives_the_resolved_counts(study):
    """Gating a sample with its own resolved tree (the engine) repeats the protocol's counts."""
    root, out = study
    target = override_path(root, PANEL, SAMPLE)
    target.parent.mkdir(parents=True)
    shutil.copy(out / "gates" / f"{SAMPLE}_{PANEL}.xml", target)
    prov = Provenance("test")
    result = quantify_panel(read_experiment(root / "experiment.yaml"), PANEL, provenance=prov)
    before = _populations(out).query("panel == @PANEL")
    after = result.populations
    merged = before.merge(after, on=["sample_id", "population"], suffixes=("_before", "_after"))
    assert len(merged) == len(before) > 0
    assert (merged["count_before"] == merged["count_after"]).all()
    assert set(after.loc[after["override"], "sample_id"]) == {SAMPLE}
    record = prov.steps["gate_overrides"][PANEL][SAMPLE]
    assert record["file"] == str(target) and len(record["sha256"]) == 64


def test_moved_threshold_changes_only_that_sample(study):
    root, out = study
    tree = _raise_threshold(read_gatingml(out / "gates" / f"{SAMPLE}_{PANEL}.xml"), GATE, 0.05)
    target = override_path(root, PANEL, SAMPLE)
    target.parent.mkdir(parents=True)
    write_gatingml(tree, target)
    exp = read_experiment(root / "experiment.yaml")
    after = quantify_panel(exp, PANEL).populations.set_index(["sample_id", "name"])["count"]
    before = _populations(out).query("panel == @PANEL").set_index(["sample_id", "name"])["count"]
    fcs = root / exp.files(PANEL).set_index("sample_id").loc[SAMPLE, "file"]
    record, = gate_files([fcs], read_strategy(target))
    expected = int(record.table.set_index("gate_id").loc[GATE, "count"])
    assert after[(SAMPLE, NAME)] == expected < before[(SAMPLE, NAME)]
    others = [k for k in before.index if k[0] != SAMPLE]
    assert (after[others] == before[others]).all()


def test_checks_name_every_bad_override(study):
    root, out = study
    good = out / "gates" / f"{SAMPLE}_{PANEL}.xml"
    for panel, sid, text in [("nopanel", SAMPLE, None), (PANEL, "D9_none", None), (PANEL, "D2_pbmc", "<not xml")]:
        path = override_path(root, panel, sid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text) if text else shutil.copy(good, path)
    missing_dim = override_path(root, PANEL, "D2_msc10")
    missing_dim.write_text(good.read_text().replace('data-type:name="R670-A"', 'data-type:name="NOPE-A"'))
    exp = read_experiment(root / "experiment.yaml")
    problems = {p.parent.name + "/" + p.stem: msg for p, msg in check_overrides(exp)}
    assert set(problems) == {"nopanel/D1_pbmc", "treg/D9_none", "treg/D2_pbmc", "treg/D2_msc10"}
    assert "NOPE-A" in problems["treg/D2_msc10"]
    with pytest.raises(MsclabError, match="gate override"):
        load_overrides(exp)
    result = CliRunner().invoke(app, ["validate", str(root / "experiment.yaml")])
    assert result.exit_code == 2
    assert result.output.count("gate override") == 4


def test_override_path_refuses_unsafe_names(tmp_path):
    with pytest.raises(MsclabError):
        override_path(tmp_path, PANEL, "../escape")


def test_batch_uses_an_override_added_after_a_first_run(study, tmp_path):
    """The override's hash keys its sample's cached result: adding one recomputes that sample."""
    import json

    from msclab.batch import run_batch
    from msclab.pipeline import Settings

    root, out = study
    settings = Settings(n_boot=100, plots=False)
    first = run_batch([root], tmp_path / "b", settings=settings, workers=0)
    assert first.ok
    tree = _raise_threshold(read_gatingml(out / "gates" / f"{SAMPLE}_{PANEL}.xml"), GATE, 0.05)
    target = override_path(root, PANEL, SAMPLE)
    target.parent.mkdir(parents=True)
    write_gatingml(tree, target)
    second = run_batch([root], tmp_path / "b", settings=settings, workers=0)
    assert second.ok and second.computed >= 1
    folder = next(p for p in (tmp_path / "b").iterdir() if (p / "populations.csv").is_file())
    pops = _populations(folder).set_index(["sample_id", "name"])
    fcs = root / read_experiment(root / "experiment.yaml").files(PANEL).set_index("sample_id").loc[SAMPLE, "file"]
    record, = gate_files([fcs], read_strategy(target))
    assert pops.loc[(SAMPLE, NAME), "count"] == int(record.table.set_index("gate_id").loc[GATE, "count"])
    assert set(pops.index[pops["override"].astype(bool)].get_level_values(0)) == {SAMPLE}
    steps = json.loads((folder / "provenance.json").read_text())["steps"]
    assert steps["gate_overrides"][PANEL][SAMPLE]["file"] == str(target)
    from msclab.review.data import ReviewStudy

    cards = ReviewStudy(folder).panel_cards(PANEL)["cards"]
    assert {c["sample_id"] for c in cards if c["override"]} == {SAMPLE}
    card = next(c for c in cards if c["sample_id"] == SAMPLE and c["gate"] == GATE)
    assert card["count"] == pops.loc[(SAMPLE, NAME), "count"]

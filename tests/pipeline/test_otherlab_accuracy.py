"""Accuracy against planted truth on another lab's study and on ``msclab simulate`` (issues 13 and 19).

Acceptance (issue 13, "How to prove it"): Treg, Th1, Th17 and Th2 % of CD4 within
max(1 percentage point, 15% relative) of the truth for >= 95% of sample x population pairs; the
same for the small and adjacent populations of issue 19 (transitional B, plasmablasts,
CD56bright NK); every planted MSC effect gets its verdict; no sample fails for lack of an
optional marker (a proliferation dye, CD8, CD45, CD107a). FMO tubes are not scored: the
population their left-out marker defines has no truth there.

The tolerance is the project's acceptance rule (issue 13); 15% relative is of the order of the
between-centre CVs of centrally gated T-cell subsets in the HIPC lyoplate study (Finak et al.
2016, Sci Rep 6:20686), and 1 percentage point bounds the sampling noise of rare subsets.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study

_spec = importlib.util.spec_from_file_location("otherlab", Path(__file__).parents[1] / "studies" / "otherlab.py")
otherlab = sys.modules.setdefault("otherlab", importlib.util.module_from_spec(_spec))
if not hasattr(otherlab, "write_study"):
    _spec.loader.exec_module(otherlab)

SETTINGS = Settings(n_boot=300, plots=False)
T_CELL = ("Treg", "Th1", "Th17", "Th2")
HARD = ("Transitional B", "Plasmablasts", "CD56bright")


def within(truth: float, got: float) -> bool:
    """Acceptance: ``|got - truth| <= max(1 pp, 15% of truth)``."""
    return bool(np.isfinite(got) and abs(got - truth) <= max(1.0, 0.15 * truth))


def compare_populations(truth: pd.DataFrame, populations: pd.DataFrame) -> pd.DataFrame:
    """Truth (sample_id, panel, population, percent) joined with the measured % of parent."""
    measured = populations.drop(columns="population").rename(columns={"name": "population", "pct_parent": "measured"})
    table = truth.merge(measured[["sample_id", "panel", "population", "measured"]],
                        on=["sample_id", "panel", "population"], how="left")
    table["within"] = [within(t, g) for t, g in zip(table["percent"], table["measured"], strict=True)]
    return table


def summary(table: pd.DataFrame) -> str:
    """Per population: pairs within tolerance / pairs (for the failure message and the report)."""
    counts = table.groupby("population")["within"].agg(["sum", "count"])
    return ", ".join(f"{p}: {int(r['sum'])}/{int(r['count'])}" for p, r in counts.iterrows())


@pytest.fixture(scope="module")
def otherlab_run(tmp_path_factory):
    """A 6-donor study of the other lab (all four panels) and its analysis."""
    folder = tmp_path_factory.mktemp("otherlab_accuracy")
    truth = otherlab.write_study(folder, otherlab.OtherLabDesign(donors=6, seed=7))
    return truth, analyze(folder / "experiment.yaml", folder / "out", SETTINGS)


@pytest.fixture(scope="module")
def simulate_run(tmp_path_factory):
    """A 6-donor ``msclab simulate`` study with the B-cell and NK panels, and its analysis."""
    return _simulated_and_analysed(tmp_path_factory.mktemp("simulate_accuracy"), events=20000)


def _simulated_and_analysed(folder, events: int, hard: float = 0.0):
    truth = simulate_study(folder, StudyDesign(donors=6, events=events, seed=7, hard=hard,
                                               panels=("th_ics", "treg", "b_cells", "nk")))
    return truth, analyze(folder / "experiment.yaml", folder / "out", SETTINGS)


def _otherlab_table(run) -> pd.DataFrame:
    truth, result = run
    rows = otherlab.population_table(truth)
    return compare_populations(rows[rows["control_type"] != "fmo"], result.populations)


def _simulate_table(run) -> pd.DataFrame:
    truth, result = run
    rows = pd.DataFrame([
        {"sample_id": sid, "panel": panel, "population": pop, "percent": 100.0 * v["observed"]}
        for sid, s in truth["samples"].items() if "_fmo_" not in sid
        for panel, pops in s["populations"].items() for pop, v in pops.items()
    ])
    return compare_populations(rows, result.populations)


@pytest.mark.slow
def test_otherlab_t_cells_within_tolerance(otherlab_run) -> None:
    table = _otherlab_table(otherlab_run)
    table = table[table["population"].isin(T_CELL)]
    assert len(table) == 4 * 6 * 4  # 6 donors x 4 cultures x 4 populations
    assert table["within"].mean() >= 0.95, summary(table)


@pytest.mark.slow
def test_otherlab_small_populations_within_tolerance(otherlab_run) -> None:
    table = _otherlab_table(otherlab_run)
    table = table[table["population"].isin(HARD)]
    assert len(table) == 3 * 6 * 4
    assert table["within"].mean() >= 0.95, summary(table)


@pytest.mark.slow
def test_simulate_t_cells_within_tolerance(simulate_run) -> None:
    table = _simulate_table(simulate_run)
    table = table[table["population"].isin(T_CELL)]
    assert len(table) == 4 * 6 * 4
    assert table["within"].mean() >= 0.95, summary(table)


@pytest.mark.slow
def test_simulate_small_populations_within_tolerance(simulate_run) -> None:
    table = _simulate_table(simulate_run)
    table = table[table["population"].isin(("Transitional B", "Plasmablasts", "CD56bright"))]
    assert len(table) == 3 * 6 * 4
    assert table["within"].mean() >= 0.95, summary(table)


@pytest.mark.slow
def test_otherlab_planted_effects_get_their_verdicts(otherlab_run) -> None:
    """Each planted effect with a catalogue entry: observed log2 near the planted one, verdict from its sign."""
    truth, result = otherlab_run
    table = result.comparison.table
    rows = table[(table["contrast"] == "MSC 1:5") & (table["verdict"] != "not_measured")]
    planted = {e: v for e, v in truth["effects"].items() if e in set(table["effect_id"])}
    assert {"treg_frequency", "th1_frequency", "th17_frequency", "b_transitional", "plasmablast_frequency",
            "ifng", "il10"} <= set(planted)
    missing = sorted(set(planted) - set(rows["effect_id"]))
    assert not missing, f"planted effects without a measured verdict: {missing}"
    for effect, spec in planted.items():
        row = rows[rows["effect_id"] == effect].iloc[0]
        log2 = float(np.mean(list(spec["per_donor"].values())))
        assert np.sign(row["observed"]) == np.sign(log2), (effect, row["observed"], log2)
        if row["verdict"] == "literature_conflicting":
            continue
        want = "concordant" if spec["direction"] == row["expected"] else "discordant"
        assert row["verdict"] == want, (effect, row["observed"], row["ci_low"], row["ci_high"], row["verdict"])


@pytest.mark.slow
def test_simulate_planted_effects_get_their_verdicts(simulate_run) -> None:
    truth, result = simulate_run
    table = result.comparison.table
    rows = table[(table["contrast"] == "msc_1to10") & ~table["verdict"].isin(["not_measured", "literature_conflicting"])]
    for effect in ("treg_frequency", "th1_frequency", "th17_frequency"):
        row = rows[rows["effect_id"] == effect]
        assert len(row) and row["verdict"].iloc[0] == "concordant", (effect, row)
    assert truth["effects"]["treg_frequency"] == "up"


@pytest.mark.parametrize("missing", ["dye", "cd8", "cd45"])
def test_no_sample_fails_for_an_optional_marker(tmp_path: Path, missing: str) -> None:
    """A panel without a proliferation dye, CD8 or CD45 (and the NK panel without CD107a) loses gates, not samples."""
    folder = tmp_path / "study"
    otherlab.write_study(folder, otherlab.OtherLabDesign(donors=2, events=4000, seed=5, panels=("Treg", "NK"),
                                                         **{missing: False}))
    result = analyze(folder / "experiment.yaml", tmp_path / "out", Settings(n_boot=100, plots=False))
    assert result.n_failed == 0, result.failures.to_string()
    treg = result.populations[(result.populations["panel"] == "Treg") & (result.populations["name"] == "Treg")]
    assert len(treg) >= 8  # every culture of both donors has its Treg readout
    # Nothing silent: the skipped gate is in the terminal warnings, gate_qc.csv and the report's section.
    skipped = {"dye": "CD4 divided", "cd8": "CD8 divided", "cd45": "CD45+"}[missing]
    qc = pd.read_csv(tmp_path / "out" / "gate_qc.csv")
    assert set(qc.loc[(qc["panel"] == "Treg") & (qc["gate"] == skipped), "flag"]) == {"skipped"}
    assert any(w.startswith("panel Treg:") and skipped in w and "skipped" in w for w in result.warnings)
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    section = report[report.index('id="gate-confidence"'):report.index('id="gates"')]
    assert f"<td>{skipped}</td>" in section and 'href="#gate-confidence"' in report


# --- Flags that find the bad gates (issue 16, item 4) ---------------------------------------------
#: A sample x panel is badly gated when a reported frequency is this far from the truth (percentage points).
BAD_PP = 2.0


def flag_figures(truth: pd.DataFrame, result) -> dict[str, float]:
    """Recall of the review flags for badly gated samples, and the share of samples flagged.

    The unit is a sample x panel (FMO tubes excluded, as in the accuracy tests): *bad* when any
    population's % of parent is more than :data:`BAD_PP` from the truth, *flagged* when any of its
    gates has a review flag (:data:`msclab.flow.qc.REVIEW_FLAGS`) in ``gate_qc.csv``.
    """
    from msclab.flow.qc import REVIEW_FLAGS, gate_qc_from_provenance

    table = compare_populations(truth, result.populations)
    table["bad"] = (table["measured"] - table["percent"]).abs() > BAD_PP
    units = table.groupby(["sample_id", "panel"])["bad"].any().to_frame()
    qc = gate_qc_from_provenance(result.provenance.steps["gating"])
    flagged = qc[qc["flag"].isin(REVIEW_FLAGS)].groupby(["sample_id", "panel"]).size()
    units["flagged"] = [key in flagged.index for key in units.index]
    n_bad = int(units["bad"].sum())
    return {"units": len(units), "bad": n_bad, "caught": int((units["bad"] & units["flagged"]).sum()),
            "recall": float((units["bad"] & units["flagged"]).sum() / n_bad) if n_bad else float("nan"),
            "flagged_share": float(units["flagged"].mean())}


def _truth_rows(run, kind: str) -> pd.DataFrame:
    if kind == "otherlab":
        rows = otherlab.population_table(run[0])
        return rows[rows["control_type"] != "fmo"]
    return pd.DataFrame([
        {"sample_id": sid, "panel": panel, "population": pop, "percent": 100.0 * v["observed"]}
        for sid, s in run[0]["samples"].items() if "_fmo_" not in sid
        for panel, pops in s["populations"].items() for pop, v in pops.items()])


@pytest.fixture(scope="module")
def simulate_low_events_run(tmp_path_factory):
    """The ``simulate_run`` study acquired with 5,000 events per file: low events make badly gated samples."""
    return _simulated_and_analysed(tmp_path_factory.mktemp("simulate_low_events"), events=5000)


@pytest.fixture(scope="module")
def simulate_hard_run(tmp_path_factory):
    """The ``simulate_run`` study with planted hard samples: 9 of its 72 stimulated cultures' tubes acquired
    with low events, poor separation or shifted gains (3 each; ``StudyDesign.hard``)."""
    return _simulated_and_analysed(tmp_path_factory.mktemp("simulate_hard"), events=20000, hard=0.125)


@pytest.mark.slow
def test_review_flags_catch_the_planted_hard_samples(simulate_hard_run) -> None:
    """Issue 16's acceptance on one study: >= 90% of the badly gated samples flagged, <= 15% of all flagged.

    The planted problems (``msclab.simulate.cytometer.ACQUISITION_PROBLEMS``) are what the flags must
    catch where they make a gate wrong: a tube acquired at other gains than its controls (a control's
    cut then misplaces positivity; :func:`msclab.flow.protocols.resolvers.negative_match`), weak
    staining and a short acquisition. A hard tube that is still gated right need not be flagged.
    """
    truth, result = simulate_hard_run
    figures = flag_figures(_truth_rows(simulate_hard_run, "simulate"), result)
    print("simulate with hard samples, 20,000 events", figures)
    problems = {(f["sample_id"], f["panel"]) for f in truth["files"].values() if "problem" in f}
    assert len(problems) == 9
    assert figures["bad"] >= 3, figures  # the hard samples make badly gated ones to catch
    assert figures["recall"] >= 0.9, figures
    assert figures["flagged_share"] <= 0.15, figures


@pytest.mark.slow
def test_review_flags_catch_the_badly_gated_samples(simulate_run, simulate_low_events_run) -> None:
    """>= 90% of the samples with a frequency > 2 pp from the truth carry a review flag (issue 16).

    On ``msclab simulate`` with the B-cell and NK panels. At 20,000 events per file no sample is more
    than 2 pp off (measured: 0 of 96), and at most one may be, flagged. The recall is also measured at
    5,000 events in every file, where small controls and sparse populations make badly gated samples
    (15 of 96 when measured, 14 caught; about half of all samples are flagged there, which is why the
    acceptance study, above, plants hard samples among normal ones).
    """
    full = flag_figures(_truth_rows(simulate_run, "simulate"), simulate_run[1])
    print("simulate, 20,000 events", full)
    assert full["bad"] <= 1 and full["caught"] == full["bad"], full
    figures = flag_figures(_truth_rows(simulate_low_events_run, "simulate"), simulate_low_events_run[1])
    print("simulate, 5,000 events", figures)
    assert figures["bad"] > 0, figures  # the low-event samples are there to be caught
    assert figures["recall"] >= 0.9, figures


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["simulate", "otherlab"])
def test_review_flags_are_few(kind, request) -> None:
    """At most 15% of all samples are flagged (issue 16), at 20,000 events per file.

    Measured: 6 of 96 (6.3%) of the simulate study (the ``Breg CD24hi CD38hi`` mixtures, once 8 of 14
    flagged, are found from the extra EM starts and no longer flagged); 2 of 96 (2.1%) of the other lab's.
    """
    run = request.getfixturevalue(f"{kind}_run")
    figures = flag_figures(_truth_rows(run, kind), run[1])
    print(kind, figures)
    assert figures["flagged_share"] <= 0.15, figures

"""Calibrate ``msclab plan``'s fast path against repeated full ``simulate`` + ``analyze`` runs.

Run::

    python benchmarks/calibrate_plan.py collect --store runs.csv --designs 3x4000,5x2000 --reps 40
    python benchmarks/calibrate_plan.py compare --store runs.csv

``collect`` writes full studies with :func:`msclab.simulate.simulate_study`
(a new seed per repetition; designs interleaved so a stopped collection stays
balanced) and runs each through :func:`msclab.pipeline.analyze`
(``n_boot=200``, no plots). For every scored effect x contrast it appends one
row to ``--store``: design, seed, ``analyze``'s verdict, estimate and the
per-donor effects. Slow (about 25 s per run on one core); it resumes where a
previous collection stopped.

``compare`` predicts the same designs with the fast path (``n_sim`` 4,000)
and prints, per effect x contrast x design:

- the measured power (share of concordant verdicts) with its 95% Wilson
  interval beside the predicted power; with tens of runs that interval is
  about ±15-25 percentage points, so this alone cannot show a 5-point
  agreement;
- a sharper check: the mean and SD of the per-donor effects pooled over all
  full runs against the fast path's (also the full runs' robust SD, 1.4826 x
  MAD, and the number of donor effects more than 4 fast-path SDs from the
  mean: failures the readout-level model does not simulate), and the power the fast path predicts
  when its donor effects are given the full runs' mean and SD
  (``power_refit``), with a bootstrap interval over runs. Power depends on the
  design through the distribution of donor effects, so agreement of these
  moments is what makes the fast path's power agree.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from msclab.plan import PlanDesign
from msclab.plan.design import parse_ratio
from msclab.plan.power import verdict_codes, verdict_rules, wilson_interval
from msclab.plan.run import compute
from msclab.plan.simulator import donor_effects
from msclab.plan.sources import default_models
from msclab.simulate.effects import ratio_weight

COLUMNS = ["donors", "events", "seed", "effect_id", "contrast", "verdict", "estimate", "donor_values"]


def _designs(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in part.split("x")) for part in text.split(",")]  # type: ignore[misc]


def _full_run(folder: Path, donors: int, events: int, seed: int) -> pd.DataFrame:
    from msclab.pipeline import Settings, analyze
    from msclab.simulate import StudyDesign, simulate_study

    study = folder / f"study{seed}"
    simulate_study(study, StudyDesign(donors=donors, events=events, seed=seed))
    result = analyze(study / "experiment.yaml", folder / f"analysis{seed}", Settings(n_boot=200, plots=False))
    comparison = result.comparison.table
    comparison = comparison[comparison["effect_id"].astype(str) != ""]
    effects = result.effects.set_index(["readout", "contrast"])
    rows = []
    for r in comparison.itertuples():
        key = (r.readout, r.contrast)
        rows.append({"donors": donors, "events": events, "seed": seed, "effect_id": r.effect_id, "contrast": r.contrast,
                     "verdict": r.verdict, "estimate": float(effects.loc[key, "estimate"]) if key in effects.index else np.nan,
                     "donor_values": effects.loc[key, "donor_values"] if key in effects.index else "{}"})
    return pd.DataFrame(rows, columns=COLUMNS)


def collect(store: Path, designs: list[tuple[int, int]], reps: int) -> None:
    """Append full-run verdicts and donor effects to ``store`` until every design has ``reps`` runs."""
    done = pd.read_csv(store) if store.is_file() else pd.DataFrame(columns=COLUMNS)
    for rep in range(reps):
        for donors, events in designs:
            seed = 10_000 + 1000 * donors + events // 100 + 7 * rep
            if ((done["seed"] == seed) & (done["donors"] == donors) & (done["events"] == events)).any():
                continue
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                rows = _full_run(Path(tmp), donors, events, seed)
            rows.to_csv(store, mode="a", header=not store.is_file(), index=False)
            done = pd.concat([d for d in (done, rows) if len(d)])
            print(f"{donors} donors x {events} events, rep {rep}: {time.perf_counter() - start:.0f} s", flush=True)


def _donor_matrix(sub: pd.DataFrame) -> np.ndarray:
    """Runs x donors of the per-donor effects (NaN where a donor has none)."""
    runs = [list(json.loads(v).values()) for v in sub["donor_values"]]
    width = max(len(r) for r in runs)
    return np.array([r + [np.nan] * (width - len(r)) for r in runs], dtype=float)


def compare(store: Path, n_sim: int = 4000, n_boot: int = 500) -> pd.DataFrame:
    """Print and return the comparison of fast-path and full-run power per effect x contrast x design."""
    runs = pd.read_csv(store)
    runs = runs[runs["verdict"] != "literature_conflicting"]
    models = default_models()
    rows = []
    rng = np.random.default_rng(1)
    for (donors, events), design_runs in runs.groupby(["donors", "events"]):
        design = PlanDesign(donors=(int(donors),), events=(int(events),), n_sim=n_sim, seed=int(donors))
        predicted = compute(design).table.set_index(["effect_id", "contrast"])
        rules = verdict_rules(models, design.ratios).set_index(["effect_id", "contrast"])
        for (eid, contrast), sub in design_runs.groupby(["effect_id", "contrast"]):
            if (eid, contrast) not in predicted.index:
                continue
            hits = int((sub["verdict"] == "concordant").sum())
            low, high = wilson_interval(np.array(hits), len(sub))
            rule = rules.loc[(eid, contrast)]
            ratio = design.ratios[[f"msc_{r.replace(':', 'to')}" for r in design.ratios].index(contrast)]
            weight = ratio_weight(parse_ratio(ratio))
            fast = donor_effects(models[eid], weight, n_sim=n_sim, donors=int(donors), events=int(events), rng=rng)
            full = _donor_matrix(sub)
            fast_mean, fast_sd = float(np.nanmean(fast)), float(np.nanstd(fast))
            full_mean, full_sd = float(np.nanmean(full)), float(np.nanstd(full))
            values = full[np.isfinite(full)]
            robust_sd = float(1.4826 * np.median(np.abs(values - np.median(values))))  # SD if normal, outliers ignored
            outliers = int((np.abs(values - full_mean) > 4 * max(fast_sd, 1e-12)).sum())

            def refit(mean: float, sd: float) -> float:
                x = (fast - fast_mean) * (sd / fast_sd if fast_sd > 0 else 1.0) + mean
                return float((verdict_codes(x, int(rule["sign"]), float(rule["threshold"])) == 1).mean())

            boot = []
            for _ in range(n_boot):
                pick = full[rng.integers(0, len(full), len(full))]
                boot.append(refit(float(np.nanmean(pick)), float(np.nanstd(pick))))
            rows.append({
                "donors": int(donors), "events": int(events), "effect_id": eid, "contrast": contrast,
                "runs": len(sub), "predicted": float(predicted.loc[(eid, contrast), "power"]),
                "measured": hits / len(sub), "measured_low": float(low), "measured_high": float(high),
                "fast_mean": fast_mean, "full_mean": full_mean, "fast_sd": fast_sd, "full_sd": full_sd,
                "full_sd_robust": robust_sd, "outliers": outliers,
                "power_refit": refit(full_mean, full_sd),
                "refit_low": float(np.quantile(boot, 0.025)), "refit_high": float(np.quantile(boot, 0.975)),
            })
    out = pd.DataFrame(rows)
    out["diff_pp"] = 100 * (out["predicted"] - out["measured"])
    out["refit_diff_pp"] = 100 * (out["predicted"] - out["power_refit"])
    tol = 1e-9  # a predicted 1.0 against an interval clipped at 1.0
    out["within_ci"] = (out["predicted"] >= out["measured_low"] - tol) & (out["predicted"] <= out["measured_high"] + tol)
    pd.set_option("display.width", 250)
    print(out.round(3).to_string(index=False))
    print(f"verdict share: mean |diff| {out['diff_pp'].abs().mean():.1f} pp, prediction inside the measured 95% "
          f"interval for {int(out['within_ci'].sum())} of {len(out)}; refit: mean |diff| "
          f"{out['refit_diff_pp'].abs().mean():.1f} pp, within 5 pp for "
          f"{int((out['refit_diff_pp'].abs() <= 5).sum())} of {len(out)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    col = sub.add_parser("collect")
    col.add_argument("--store", type=Path, required=True)
    col.add_argument("--designs", default="3x4000,5x2000", help="DONORSxEVENTS, comma-separated")
    col.add_argument("--reps", type=int, default=40)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("--store", type=Path, required=True)
    cmp_.add_argument("--n-sim", type=int, default=4000)
    args = parser.parse_args()
    if args.what == "collect":
        collect(args.store, _designs(args.designs), args.reps)
    else:
        compare(args.store, args.n_sim)


if __name__ == "__main__":
    main()

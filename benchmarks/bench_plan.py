"""Benchmark ``msclab plan``: speed of the fast path, and its calibration against full runs.

Run: ``python benchmarks/bench_plan.py speed`` and
``python benchmarks/bench_plan.py calibrate [--reps 40 --events 4000]``.

``speed``: a 1,000-simulation power curve over 8 donor counts x every default
effect (both default ratios, both default event counts, alternative and null),
wall clock and CPU seconds, with the load average (other work on the machine
slows it down). Goal: <= 60 s on 2 cores.

``calibrate``: for each scenario (donors), ``--reps`` full studies are written
by :func:`msclab.simulate.simulate_study` (new seed each) and run through
:func:`msclab.pipeline.analyze`; the measured power of an effect x contrast is
the share of runs whose ``comparison.csv`` verdict is concordant. It is printed
beside the fast path's prediction for the same design, with the measured
power's 95% Wilson interval (with few repetitions the interval, not the point
estimate, is what the 5-percentage-point goal can be judged against). Slow:
each full run simulates and gates every FCS file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from msclab.plan import PlanDesign
from msclab.plan.power import wilson_interval
from msclab.plan.run import compute


def speed() -> None:
    """Time the 1,000-simulation curve."""
    design = PlanDesign(donors=(3, 4, 5, 6, 7, 8, 10, 12), n_sim=1000)
    wall, cpu = time.perf_counter(), time.process_time()
    result = compute(design)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    table = result.table
    print(f"{len(table)} design points ({table['effect_id'].nunique()} effects x {table['contrast'].nunique()} "
          f"contrasts x 8 donor counts x {table['events'].nunique()} event counts), n_sim 1000 each")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f}; goal <= 60 s")


def _full_run(folder: Path, donors: int, events: int, seed: int) -> pd.DataFrame:
    from msclab.pipeline import Settings, analyze
    from msclab.simulate import StudyDesign, simulate_study

    study = folder / f"study{seed}"
    simulate_study(study, StudyDesign(donors=donors, events=events, seed=seed))
    result = analyze(study / "experiment.yaml", folder / f"analysis{seed}", Settings(n_boot=200, plots=False))
    return result.comparison.table


def calibrate(reps: int, events: int, donor_counts: tuple[int, ...]) -> None:
    """Compare fast-path power with the share of concordant verdicts over full runs."""
    rows = []
    for donors in donor_counts:
        predicted = compute(PlanDesign(donors=(donors,), events=(events,), n_sim=4000, seed=donors)).table
        verdicts = []
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(reps):
                table = _full_run(Path(tmp), donors, events, seed=10_000 + 97 * donors + rep)
                verdicts.append(table[["effect_id", "contrast", "verdict"]])
        taken = time.perf_counter() - start
        measured = pd.concat(verdicts).assign(hit=lambda f: f["verdict"] == "concordant")
        measured = measured.groupby(["effect_id", "contrast"])["hit"].agg(["sum", "size"]).reset_index()
        merged = predicted.merge(measured, on=["effect_id", "contrast"])
        for r in merged.itertuples():
            low, high = wilson_interval(np.array(r.sum), r.size)
            rows.append({"donors": donors, "events": events, "effect_id": r.effect_id, "contrast": r.contrast,
                         "predicted": r.power, "measured": r.sum / r.size, "measured_low": float(low),
                         "measured_high": float(high), "runs": r.size})
        print(f"{donors} donors: {reps} full runs in {taken:.0f} s", flush=True)
    out = pd.DataFrame(rows)
    out["diff_pp"] = 100 * (out["predicted"] - out["measured"])
    out["within_ci"] = (out["predicted"] >= out["measured_low"]) & (out["predicted"] <= out["measured_high"])
    pd.set_option("display.width", 200)
    print(out.round(3).to_string(index=False))
    print(f"mean |diff| {out['diff_pp'].abs().mean():.1f} pp; max |diff| {out['diff_pp'].abs().max():.1f} pp; "
          f"prediction inside the measured 95% interval for {int(out['within_ci'].sum())} of {len(out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("speed")
    cal = sub.add_parser("calibrate")
    cal.add_argument("--reps", type=int, default=40)
    cal.add_argument("--events", type=int, default=4000)
    cal.add_argument("--donors", type=str, default="3,4,6")
    args = parser.parse_args()
    if args.what == "speed":
        speed()
    else:
        calibrate(args.reps, args.events, tuple(int(d) for d in args.donors.split(",")))


if __name__ == "__main__":
    main()

"""Benchmark: 40 plates x 10 analytes fitted and quantified, against plain curve_fit.

Run: ``python benchmarks/bench_curves.py [--plates 40 --analytes 10 --seed 0]``.

Timings in the same run on the same simulated plates (duplicate 8-level
standards, 2 blanks, 30 duplicate unknowns per plate x analyte; see
``tests/assay/_sim.py``):

- ``msclab quantify``: :func:`msclab.assay.quantification.quantify` -- 5PL, 1/y^2,
  multi-start bounded fits, outlier masking, ICH M10 QC, delta-method CIs,
  flags -- in one process (``n_jobs=1``) and in ``--processes`` worker
  processes (default 2);
- ``msclab fit_curve``: :func:`msclab.assay.curves.fit_curve` on the standards
  (one fit per curve, no masking refits), one process;
- ``baseline``: one unweighted 4PL :func:`scipy.optimize.curve_fit` per curve
  plus the closed-form inverse for the unknowns (no QC, no CIs, no flags).

Prints wall-clock seconds, the ratio to the baseline, the CPU seconds of the
quantify runs (over all processes; less sensitive than wall clock to other
work on the machine, whose load average is printed too), whether the parallel
run's results equal the serial run's, and the median relative error of
in-range unknowns for msclab and the baseline. Not a timed test.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from msclab.assay.curves import fit_curve
from msclab.assay.quantification import quantify

SIM = Path(__file__).resolve().parents[1] / "tests" / "assay" / "_sim.py"


def _simulator():
    spec = importlib.util.spec_from_file_location("msclab_assay_sim", SIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _four_pl(x, a, d, c, b):
    return d + (a - d) / (1.0 + (x / c) ** b)


def baseline(table: pd.DataFrame) -> pd.Series:
    """Plain curve_fit 4PL per plate x analyte; returns in-well concentrations."""
    out = pd.Series(np.nan, index=table.index)
    for _, grp in table.groupby(["plate", "analyte"], sort=False):
        std = grp[grp["sample_type"] == "standard"]
        x, y = std["expected_concentration"].to_numpy(), std["signal"].to_numpy()
        p0 = [y.min(), y.max(), np.median(x), 1.0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (a, d, c, b), _ = curve_fit(_four_pl, x, y, p0=p0, maxfev=10000)
        except RuntimeError:
            continue
        sig = grp["signal"].to_numpy()
        with np.errstate(all="ignore"):
            out.loc[grp.index] = c * ((a - d) / (sig - d) - 1.0) ** (1.0 / b)
    return out


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (worker processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=40)
    parser.add_argument("--analytes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2, help="worker processes of the parallel run")
    args = parser.parse_args()
    sim = _simulator()
    rng = np.random.default_rng(args.seed)
    table = pd.concat(
        [sim.simulate_plate(rng, plate=f"P{p}", analyte=f"A{a}") for p in range(args.plates) for a in range(args.analytes)],
        ignore_index=True,
    )
    n_curves = args.plates * args.analytes

    load_before = os.getloadavg()[0]
    unknowns = table.drop(columns="true_concentration")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    result = quantify(unknowns, n_jobs=1)
    t_serial, c_serial = time.perf_counter() - t0, _cpu_seconds() - c0

    t0, c0 = time.perf_counter(), _cpu_seconds()
    parallel = quantify(unknowns, n_jobs=args.processes)
    t_parallel, c_parallel = time.perf_counter() - t0, _cpu_seconds() - c0
    identical = all(
        getattr(result, name).equals(getattr(parallel, name)) for name in ("wells", "curves", "masks")
    )

    std = table[table["sample_type"] == "standard"]
    t0 = time.perf_counter()
    for _, grp in std.groupby(["plate", "analyte"], sort=False):
        fit_curve(grp["expected_concentration"], grp["signal"])
    t_fit = time.perf_counter() - t0

    t0 = time.perf_counter()
    base = baseline(table)
    t_base = time.perf_counter() - t0
    load_after = os.getloadavg()[0]

    wells = result.wells.assign(truth=table["true_concentration"].to_numpy(), base=base.to_numpy())
    inside = wells[(wells["sample_type"] == "unknown") & wells["flag"].isin(["ok", "high_cv"])]
    err_msclab = np.median(np.abs(inside["concentration"] / inside["truth"] - 1))
    err_base = np.nanmedian(np.abs(inside["base"] / inside["truth"] - 1))

    def line(name: str, seconds: float, cpu: float | None = None, ratio: bool = True) -> str:
        text = f"{name:<30} {seconds:8.2f} s  ({1000 * seconds / n_curves:.1f} ms/curve)"
        text += f"  ratio {seconds / t_base:.1f}x" if ratio else ""
        return text + (f"  [CPU {cpu:.2f} s, all processes]" if cpu is not None else "")

    print(f"{n_curves} curves ({args.plates} plates x {args.analytes} analytes), {len(table)} wells; "
          f"{os.cpu_count()} cores, load average {load_before:.2f} before, {load_after:.2f} after")
    print(line("msclab quantify, 1 process", t_serial, c_serial))
    print(line(f"msclab quantify, {args.processes} processes", t_parallel, c_parallel))
    print(line("msclab fit_curve, 1 process", t_fit))
    print(line("baseline curve_fit", t_base, ratio=False))
    print(f"parallel results identical to serial: {'yes' if identical else 'NO'}")
    print(f"accepted curves {int(result.curves['accepted'].sum())}/{n_curves}; "
          f"median |rel err| of in-range unknowns: msclab {err_msclab:.3f}, baseline {err_base:.3f}")


if __name__ == "__main__":
    main()

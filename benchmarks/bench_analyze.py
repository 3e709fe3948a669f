"""Benchmark: ``msclab analyze example_data/experiment.yaml`` with and without plots, wall and CPU time.

Each run is a fresh ``python -m msclab analyze`` into a new folder; the wall
time and the CPU time (user + sys of the command and of the worker processes
it forks) are printed with the load average at its start, and the median of
``--repeats`` runs. The machine may be shared: CPU time does not grow with the
other jobs' load as wall time does, and ratios are to be read within one run.
With ``--baseline SRC`` the same runs are made with another msclab source
tree (e.g. a checkout of the previous version) interleaved with this one, and
the ratios printed.

Usage::

    python benchmarks/bench_analyze.py [--repeats 3] [--baseline /path/to/other/src]

Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "example_data" / "experiment.yaml"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(src: Path, plots: bool) -> dict:
    """One ``msclab analyze`` with ``src`` first on the path; wall, CPU and load at its start."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_analyze_") as out:
        start, cpu = time.perf_counter(), _cpu()
        subprocess.run([sys.executable, "-m", "msclab", "analyze", str(EXPERIMENT), "-o", out,
                        *([] if plots else ["--no-plots"])], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return {"wall": time.perf_counter() - start, "cpu": _cpu() - cpu, "load": load}


def main() -> None:
    """Run the benchmark and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None, help="another msclab source tree to compare with")
    args = parser.parse_args()
    trees = {"this": ROOT / "src", **({"baseline": args.baseline} if args.baseline else {})}
    results: dict[tuple[str, bool], list[dict]] = {}
    for _ in range(args.repeats):
        for plots in (True, False):
            for name, src in trees.items():
                run = run_once(src, plots)
                results.setdefault((name, plots), []).append(run)
                print(f"{name:8s} {'plots' if plots else 'no plots':8s} wall {run['wall']:6.2f} s  "
                      f"CPU {run['cpu']:6.2f} s  (load {run['load']:.2f})", flush=True)
    print("\nmedians:")
    medians = {key: {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu")}
               for key, runs in results.items()}
    for (name, plots), m in medians.items():
        line = f"{name:8s} {'plots' if plots else 'no plots':8s} wall {m['wall']:6.2f} s  CPU {m['cpu']:6.2f} s"
        if name == "this" and ("baseline", plots) in medians:
            base = medians[("baseline", plots)]
            line += f"  (baseline / this: wall {base['wall'] / m['wall']:.2f}x, CPU {base['cpu'] / m['cpu']:.2f}x)"
        print(line)


if __name__ == "__main__":
    main()

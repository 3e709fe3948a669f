"""Benchmark ``msclab plan``'s speed: ``python benchmarks/bench_plan.py``.

A 1,000-simulation power curve over 8 donor counts x every default effect
(both default ratios, both default event counts, alternative and null), wall
clock and CPU seconds, with the load average (other work on the machine slows
it down). Goal: <= 60 s on 2 cores. The fast path's calibration against full
runs is ``benchmarks/calibrate_plan.py``.
"""

from __future__ import annotations

import argparse
import os
import time

from msclab.plan import PlanDesign
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


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    speed()


if __name__ == "__main__":
    main()

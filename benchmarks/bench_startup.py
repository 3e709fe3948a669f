"""Benchmark: start-up time of ``import msclab`` and the command line, against ``import numpy, pandas``.

Run: ``python benchmarks/bench_startup.py [--repeats 7]``.

Each case is a fresh interpreter (the same Python that runs this script),
started ``--repeats`` times in turn with the others so that load on the machine
falls on every case alike; the median wall-clock time is printed with its
ratio to the baseline ``python -c "import numpy, pandas"``. The goal
(docs/performance.md) is a ratio under 2 for the three msclab cases. The
command line is run as the ``msclab`` console script does (``msclab.cli:main``).
Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

_CLI = "import sys; sys.argv = ['msclab', {option!r}]; from msclab.cli import main; main()"

CASES = {
    "import numpy, pandas (baseline)": "import numpy, pandas",
    "import msclab": "import msclab",
    "msclab --version": _CLI.format(option="--version"),
    "msclab --help": _CLI.format(option="--help"),
}


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "80"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="Runs of each case (default 7).")
    args = parser.parse_args()
    for code in CASES.values():  # warm the file-system cache once
        _time(code)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, code in CASES.items():
            times[name].append(_time(code))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["import numpy, pandas (baseline)"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}, {args.repeats} runs each, median wall clock")
    for name, median in medians.items():
        print(f"  {name:34s} {median:6.3f} s   x{median / baseline:4.2f}   "
              f"(min {min(times[name]):.3f} s, max {max(times[name]):.3f} s)")


if __name__ == "__main__":
    main()

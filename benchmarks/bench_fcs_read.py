"""Reading throughput of msclab's FCS reader against FlowIO and FlowKit, in one run.

Writes a synthetic FCS 3.1 file (default 1,000,000 events x 12 float32
channels, ``flowio.create_fcs``) to a temporary folder, then times, best of
``--repeat`` with a warm page cache, the readers taking turns (round by round,
so that a load from other processes falls on all of them alike):

- ``np.fromfile`` of the DATA segment (the floor: bytes to a flat float32 array);
- ``flowio.FlowData(path)`` (flat stored values), and ``.as_array()``;
- ``flowkit.Sample(path, subsample=0)``;
- ``msclab`` ``open_fcs(path).read_raw()`` (stored values, events x channels),
  ``read_events()`` (float32 scale values) and ``read_fcs(path)`` (AnnData).

Ratios are printed against ``FlowData`` and against the FlowIO call with the
same output: stored values (``FlowData``) for ``read_raw``, scaled events x
channels (``FlowData(...).as_array()``) for ``read_events`` and ``read_fcs``.

Run: ``python benchmarks/bench_fcs_read.py [--events N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import flowio
import flowkit as fk
import numpy as np

from msclab.io import open_fcs, read_fcs

CHANNELS = ["FSC-A", "FSC-H", "SSC-A", *(f"FL{i}-A" for i in range(1, 9)), "Time"]


def write_synthetic(path: Path, n_events: int, seed: int = 0) -> None:
    """A float32 FCS 3.1 file of ``n_events`` x 12 channels written by FlowIO."""
    rng = np.random.default_rng(seed)
    events = rng.lognormal(8, 1, size=(n_events, len(CHANNELS))).astype(np.float32)
    events[:, -1] = np.arange(n_events, dtype=np.float32)
    with open(path, "wb") as handle:
        flowio.create_fcs(handle, events.ravel(), CHANNELS, metadata_dict={"TIMESTEP": "0.01"})


def best_of(funcs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Fastest wall time of ``repeat`` calls of each function, in seconds; the functions take turns."""
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.fcs"
        write_synthetic(path, args.events)
        size_mb = path.stat().st_size / 1e6
        start = int(flowio.FlowData(path).header["data_start"])
        count = args.events * len(CHANNELS)
        timings = {
            "np.fromfile (DATA segment)": lambda: np.fromfile(path, dtype="<f4", count=count, offset=start),
            "flowio.FlowData": lambda: flowio.FlowData(path),
            "flowio.FlowData + as_array()": lambda: flowio.FlowData(path).as_array(),
            "flowkit.Sample(subsample=0)": lambda: fk.Sample(path, subsample=0),
            "msclab open_fcs().read_raw()": lambda: open_fcs(path).read_raw(),
            "msclab open_fcs().read_events()": lambda: open_fcs(path).read_events(),
            "msclab read_fcs() -> AnnData": lambda: read_fcs(path),
        }
        results = best_of(timings, args.repeat)
    # each msclab output against the FlowIO call that gives the same thing
    same_output = {
        "msclab open_fcs().read_raw()": "flowio.FlowData",  # stored values
        "msclab open_fcs().read_events()": "flowio.FlowData + as_array()",  # scaled events x channels
        "msclab read_fcs() -> AnnData": "flowio.FlowData + as_array()",
    }
    base = results["flowio.FlowData"]
    floor = results["np.fromfile (DATA segment)"]
    print(f"msclab read_raw() runs at {floor / results['msclab open_fcs().read_raw()']:.0%} of np.fromfile's "
          f"speed (goal >= 80%)")
    print(f"{args.events:,} events x {len(CHANNELS)} float32 channels ({size_mb:.1f} MB), best of {args.repeat}")
    print(f"{'reader':34s} {'seconds':>8s} {'M events/s':>11s} {'vs FlowData':>12s} {'vs same output':>15s}")
    for name, seconds in results.items():
        same = f"{results[same_output[name]] / seconds:14.2f}x" if name in same_output else ""
        print(f"{name:34s} {seconds:8.3f} {args.events / seconds / 1e6:11.1f} {base / seconds:11.2f}x {same}")

if __name__ == "__main__":
    main()

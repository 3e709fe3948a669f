"""Benchmark: ``msclab batch`` serial vs 2 Dask workers, and the gating part against FlowKit.

1. Simulates P plates (studies) of about W FCS files with E events each
   (``msclab.simulate``; 9 files per donor, so ``ceil(W / 9)`` donors).
2. Runs the full pipeline on them with ``msclab batch --serial`` and with
   ``msclab batch --scheduler`` on the 2-worker x 1-thread LocalCluster that
   ``msclab batch --workers 2`` would start, started here (so each worker's
   peak RSS can be read); both without plots, each into
   a fresh folder. Reports flow samples per second and peak RSS (serial: the
   process; Dask: each worker), and checks the two give identical tables.
3. The gating part against FlowKit: every sample's resolved gate tree (the
   GatingML 2.0 the batch wrote) applied to its FCS file by msclab's engine
   and by a FlowKit ``Session``, one sample at a time; counts must match.

Usage::

    nice python benchmarks/bench_batch.py [--plates 4] [--wells 96] [--events 100000] [--workdir DIR]
        [--one-core-serial] [--no-flowkit]

The defaults are the issue's size (4 x 96 x 100,000); a smaller run is e.g.
``--plates 2 --wells 18 --events 20000``. Not a timed test.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

TABLES = ("readouts.csv", "effects.csv", "comparison.csv")


def simulate(workdir: Path, plates: int, wells: int, events: int) -> list[Path]:
    """Write the plates (one simulated study each); reuse them when already there."""
    from msclab.simulate import StudyDesign, simulate_study

    folders = []
    for i in range(plates):
        folder = workdir / f"plate{i + 1}"
        if not (folder / "experiment.yaml").is_file():
            simulate_study(folder, StudyDesign(donors=math.ceil(wells / 9), events=events, seed=100 + i))
        folders.append(folder)
    return folders


EXTRA: list[str] = []  # options passed to every ``msclab batch`` run (``--samples-per-task``)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _batch(args: list[str], one_core: bool = False) -> tuple[float, float]:
    """Run ``msclab batch``; wall time and the CPU time (user + sys) of the command and its forked workers.

    ``one_core`` pins the command (and so every process it forks) to one CPU.
    """
    start, cpu = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
    pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_core else None
    subprocess.run([sys.executable, "-m", "msclab", "batch", *args, *EXTRA, "--no-plots", "--quiet"], check=True,
                   preexec_fn=pin)
    return time.perf_counter() - start, _cpu(resource.RUSAGE_CHILDREN) - cpu


def run_serial(folders: list[Path], out: Path, one_core: bool = False) -> dict:
    """The batch in one process (which forks for mixture fits and curves unless ``one_core``);
    wall time, CPU time and the process's peak RSS."""
    seconds, cpu = _batch([*map(str, folders), "-o", str(out), "--serial"], one_core)
    return {"seconds": seconds, "cpu": cpu, "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_cpu() -> float:
    return _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)


def run_dask(folders: list[Path], out: Path, workers: int) -> dict:
    """The batch on a LocalCluster of ``workers`` x 1 thread; wall time, CPU time and each worker's peak RSS.

    The CPU time is the command's (planning, recording, the report) plus what the workers spent during the run.
    """
    from distributed import Client

    from msclab.batch.execute import local_cluster

    with local_cluster(workers) as cluster, Client(cluster) as client:
        before = sum(client.run(_worker_cpu).values())
        seconds, command_cpu = _batch([*map(str, folders), "-o", str(out), "--scheduler", cluster.scheduler_address])
        cpu = command_cpu + sum(client.run(_worker_cpu).values()) - before
        peaks = list(client.run(_peak_rss_mb).values())
    return {"seconds": seconds, "cpu": cpu, "command_cpu": command_cpu, "worker_peak_mb": peaks}


def gating(out: Path, folders: list[Path]) -> dict:
    """Apply every sample's resolved gates with msclab's engine and with FlowKit; compare counts."""
    import flowkit as fk

    from msclab.experiment import read_experiment
    from msclab.flow.gating import Events, gate_events, read_gatingml
    from msclab.flow.protocols.sample import safe_id
    from msclab.io import open_fcs

    jobs = []
    for folder in folders:
        exp = read_experiment(folder / "experiment.yaml")
        for row in exp.files().itertuples():
            gml = out / folder.name / "gates" / f"{safe_id(row.sample_id)}_{row.panel}.xml"
            if gml.is_file():
                jobs.append((row.file, gml))
    warnings.simplefilter("ignore")
    ours, theirs, mismatches = {}, {}, 0
    start = time.perf_counter()
    for file, gml in jobs:
        result = gate_events(read_gatingml(gml), Events.from_fcs(open_fcs(file), Path(file).stem))
        ours[str(gml)] = result.counts()
    msclab_s = time.perf_counter() - start
    start = time.perf_counter()
    for file, gml in jobs:
        session = fk.Session(gating_strategy=str(gml))
        session.add_samples(fk.Sample(file))
        session.analyze_samples(use_mp=False)
        report = session.get_analysis_report()
        theirs[str(gml)] = dict(zip(report["gate_name"], report["count"].astype(int), strict=True))
    flowkit_s = time.perf_counter() - start
    for key, counts in ours.items():
        mismatches += sum(int(theirs[key].get(gate, -1)) != int(n) for gate, n in counts.items())
    return {"samples": len(jobs), "msclab_s": msclab_s, "flowkit_s": flowkit_s, "count_mismatches": mismatches}


def main() -> None:
    """Run the benchmark and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plates", type=int, default=4)
    parser.add_argument("--wells", type=int, default=96, help="FCS files per plate (about)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples-per-task", type=int, default=None,
                        help="passed to msclab batch (default: its own, all samples sharing controls)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-flowkit", action="store_true", help="skip the gating comparison with FlowKit")
    parser.add_argument("--one-core-serial", action="store_true",
                        help="also run the serial batch pinned to one CPU (no forked helpers): the one-core anchor")
    args = parser.parse_args()
    if args.samples_per_task:
        EXTRA.extend(["--samples-per-task", str(args.samples_per_task)])
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    start = time.perf_counter()
    folders = simulate(workdir / "inputs", args.plates, args.wells, args.events)
    n_samples = sum(len(pd.read_csv(f / "samplesheet.csv")) for f in folders)
    print(f"{len(folders)} plates, {n_samples} FCS files x {args.events} events "
          f"(simulated in {time.perf_counter() - start:.0f} s) in {workdir}")

    serial = run_serial(folders, workdir / "serial")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"serial      : {serial['seconds']:7.1f} s  CPU {serial['cpu']:7.1f} s  "
          f"{n_samples / serial['seconds']:6.2f} samples/s  peak RSS {serial['peak_mb']:.0f} MB")
    one_core = run_serial(folders, workdir / "serial_one_core", one_core=True) if args.one_core_serial else None
    if one_core:
        print(f"serial, 1 CPU: {one_core['seconds']:7.1f} s  CPU {one_core['cpu']:7.1f} s  "
              f"{n_samples / one_core['seconds']:6.2f} samples/s")
    dask = run_dask(folders, workdir / "dask", args.workers)
    print(f"{args.workers} workers   : {dask['seconds']:7.1f} s  CPU {dask['cpu']:7.1f} s "
          f"(the command {dask['command_cpu']:.1f} s)  "
          f"{n_samples / dask['seconds']:6.2f} samples/s  peak RSS per worker "
          f"{', '.join(f'{m:.0f}' for m in dask['worker_peak_mb'])} MB")
    print(f"load average {os.getloadavg()[0]:.2f}; {args.workers} workers vs serial: "
          f"{serial['seconds'] / dask['seconds']:.2f}x (wall)"
          + (f"; vs serial on 1 CPU: {one_core['seconds'] / dask['seconds']:.2f}x" if one_core else ""))
    for folder in folders:
        for table in TABLES:
            for other in ("dask", *(("serial_one_core",) if one_core else ())):
                pd.testing.assert_frame_equal(pd.read_csv(workdir / "serial" / folder.name / table),
                                              pd.read_csv(workdir / other / folder.name / table))
    print("serial and Dask tables identical")

    if args.no_flowkit:
        return
    gate = gating(workdir / "serial", folders)
    print(f"gating only ({gate['samples']} samples, resolved GatingML): msclab {gate['msclab_s']:.1f} s, "
          f"FlowKit {gate['flowkit_s']:.1f} s ({gate['flowkit_s'] / max(gate['msclab_s'], 1e-9):.1f}x), "
          f"count mismatches {gate['count_mismatches']}")


if __name__ == "__main__":
    main()

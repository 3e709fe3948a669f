"""Benchmark: msclab gating vs FlowKit ``Session.analyze_samples`` on the same files and gates.

Writes N synthetic FCS 3.1 files (E events x 12 float32 channels, an 8x8
``$SPILLOVER``) and a 7-gate GatingML 2.0 tree whose fluorescence gates use
the file's compensation (``FCS``) and logicle scales, then runs each side in
its own subprocess, end to end (read files, compensate, transform, gate,
count):

- FlowKit: ``Sample`` per file, ``Session.add_samples``, ``analyze_samples``;
- msclab serial: ``read_strategy`` -> ``gate_files(n_jobs=1)``: ``open_fcs``
  -> ``Events.from_fcs`` -> ``gate_events``, one sample at a time;
- msclab parallel: the same with ``gate_files()`` on every usable core (forked
  workers, one sample in memory per worker), what ``msclab gate`` does.

Counts must be identical for every sample and gate (FlowKit, msclab serial and
parallel). Prints wall time, CPU time (user + system, workers included; less
sensitive than wall time to other processes sharing the machine) and peak RSS (``ru_maxrss`` of each subprocess,
and of its largest worker) and the ratios, all measured in the same run; the
targets are msclab >= 10x faster and <= 1/4 of FlowKit's peak memory. Not a
timed test.

Usage::

    nice python benchmarks/bench_gating.py [--samples 16] [--events 1000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FLUOR = [f"FL{i}-A" for i in range(1, 9)]
CHANNELS = ["FSC-A", "FSC-H", "SSC-A", *FLUOR, "Time"]

GATES = """<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <transforms:transformation transforms:id="logicle">
    <transforms:logicle transforms:T="262144" transforms:W="0.5" transforms:M="4.5" transforms:A="0"/>
  </transforms:transformation>
  <gating:PolygonGate gating:id="Cells">
    <gating:dimension gating:compensation-ref="uncompensated"><data-type:fcs-dimension data-type:name="FSC-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="uncompensated"><data-type:fcs-dimension data-type:name="SSC-A"/></gating:dimension>
    <gating:vertex><gating:coordinate data-type:value="30000"/><gating:coordinate data-type:value="5000"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="200000"/><gating:coordinate data-type:value="5000"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="220000"/><gating:coordinate data-type:value="150000"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="40000"/><gating:coordinate data-type:value="120000"/></gating:vertex>
  </gating:PolygonGate>
  <gating:RectangleGate gating:id="Singlets" gating:parent_id="Cells">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="0.8" gating:max="1.25">
      <data-type:new-dimension data-type:transformation-ref="ratio"/></gating:dimension>
  </gating:RectangleGate>
  <transforms:transformation transforms:id="ratio">
    <transforms:fratio transforms:A="1" transforms:B="0" transforms:C="0">
      <data-type:fcs-dimension data-type:name="FSC-H"/><data-type:fcs-dimension data-type:name="FSC-A"/>
    </transforms:fratio>
  </transforms:transformation>
  <gating:RectangleGate gating:id="Live" gating:parent_id="Singlets">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle" gating:max="0.45">
      <data-type:fcs-dimension data-type:name="FL8-A"/></gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="CD3" gating:parent_id="Live">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle" gating:min="0.5">
      <data-type:fcs-dimension data-type:name="FL1-A"/></gating:dimension>
  </gating:RectangleGate>
  <gating:PolygonGate gating:id="CD4" gating:parent_id="CD3">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle"><data-type:fcs-dimension data-type:name="FL2-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle"><data-type:fcs-dimension data-type:name="FL3-A"/></gating:dimension>
    <gating:vertex><gating:coordinate data-type:value="0.5"/><gating:coordinate data-type:value="0.0"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="1.0"/><gating:coordinate data-type:value="0.0"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="1.0"/><gating:coordinate data-type:value="0.45"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="0.5"/><gating:coordinate data-type:value="0.45"/></gating:vertex>
  </gating:PolygonGate>
  <gating:PolygonGate gating:id="CD8" gating:parent_id="CD3">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle"><data-type:fcs-dimension data-type:name="FL2-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle"><data-type:fcs-dimension data-type:name="FL3-A"/></gating:dimension>
    <gating:vertex><gating:coordinate data-type:value="0.0"/><gating:coordinate data-type:value="0.5"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="0.45"/><gating:coordinate data-type:value="0.5"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="0.45"/><gating:coordinate data-type:value="1.0"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="0.0"/><gating:coordinate data-type:value="1.0"/></gating:vertex>
  </gating:PolygonGate>
  <gating:EllipsoidGate gating:id="Bcells" gating:parent_id="Live">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle"><data-type:fcs-dimension data-type:name="FL4-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="logicle"><data-type:fcs-dimension data-type:name="FL5-A"/></gating:dimension>
    <gating:mean><gating:coordinate data-type:value="0.7"/><gating:coordinate data-type:value="0.7"/></gating:mean>
    <gating:covarianceMatrix>
      <gating:row><gating:entry data-type:value="0.01"/><gating:entry data-type:value="0.002"/></gating:row>
      <gating:row><gating:entry data-type:value="0.002"/><gating:entry data-type:value="0.01"/></gating:row>
    </gating:covarianceMatrix>
    <gating:distanceSquare data-type:value="4"/>
  </gating:EllipsoidGate>
</gating:Gating-ML>
"""


def make_data(workdir: Path, n_samples: int, n_events: int) -> tuple[list[Path], Path]:
    """Write the synthetic FCS files and the GatingML tree (reused if present)."""
    import flowio

    workdir.mkdir(parents=True, exist_ok=True)
    gml = workdir / "gates.xml"
    gml.write_text(GATES)
    rng = np.random.default_rng(0)
    spill = np.eye(8)
    spill[np.triu_indices(8, 1)] = rng.uniform(0.0, 0.15, 28)
    spill[np.tril_indices(8, -1)] = rng.uniform(0.0, 0.05, 28)
    spill_text = ",".join(["8", *FLUOR, *(f"{v:.6f}" for v in spill.ravel())])
    paths = []
    for s in range(n_samples):
        path = workdir / f"sample_{s:02d}_{n_events}.fcs"
        paths.append(path)
        if path.exists():
            continue
        r = np.random.default_rng(100 + s)
        fsc = r.normal(100000, 30000, n_events).clip(1000, 260000)
        ssc = r.normal(50000, 25000, n_events).clip(500, 260000)
        fsc_h = fsc * r.normal(1.0, 0.12, n_events)
        pops = r.integers(0, 4, n_events)  # 0 CD4 T, 1 CD8 T, 2 B, 3 dead/other
        bright = lambda on: np.where(on, r.lognormal(9.5, 0.5, n_events), r.normal(0, 300, n_events))  # noqa: E731
        true = np.column_stack([
            bright(pops < 2), bright(pops == 0), bright(pops == 1), bright(pops == 2), bright(pops == 2),
            bright(r.random(n_events) < 0.3), bright(r.random(n_events) < 0.3), bright(pops == 3),
        ])
        observed = true @ spill
        time_ = np.sort(r.uniform(0, 10000, n_events))
        data = np.column_stack([fsc, fsc_h, ssc, observed, time_]).astype(np.float32)
        with open(path, "wb") as handle:
            flowio.create_fcs(handle, data.ravel(), CHANNELS, metadata_dict={"SPILL": spill_text})
    return paths, gml


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its (worker) children so far."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                                                resource.RUSAGE_CHILDREN)))


def _peak_mb() -> float:
    """Peak RSS of this process or of its largest (worker) child, in MB."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024.0


def run_flowkit(paths: list[str], gml: str) -> dict:
    """FlowKit: load every Sample into a Session and analyse them."""
    import warnings

    import flowkit as fk

    warnings.simplefilter("ignore")
    start, cpu = time.perf_counter(), _cpu_seconds()
    session = fk.Session(gating_strategy=gml)
    session.add_samples([fk.Sample(p) for p in paths])
    session.analyze_samples(use_mp=False)
    report = session.get_analysis_report()
    elapsed = time.perf_counter() - start
    counts = {f"{row.sample_id}|{row.gate_name}": int(row.count) for row in report.itertuples()}
    return {"seconds": elapsed, "cpu": _cpu_seconds() - cpu, "peak_mb": _peak_mb(), "counts": counts}


def run_msclab(paths: list[str], gml: str, n_jobs: int | None) -> dict:
    """msclab: the strategy, then every file through ``gate_files`` (one sample in memory per process)."""
    from msclab.flow.gating import read_strategy
    from msclab.flow.gating.run import gate_files

    start, cpu = time.perf_counter(), _cpu_seconds()
    records = gate_files(paths, read_strategy(gml), n_jobs=n_jobs)
    counts = {}
    for record in records:
        sample_id = Path(record.sample_id).stem
        counts.update({f"{sample_id}|{row.gate_id}": int(row.count) for row in record.table.itertuples()})
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "cpu": _cpu_seconds() - cpu, "peak_mb": _peak_mb(), "counts": counts}


def _in_subprocess(side: str, paths: list[Path], gml: Path) -> dict:
    cmd = [sys.executable, __file__, "--run", side, "--gml", str(gml), *map(str, paths)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "msclab_bench_gating")
    parser.add_argument("--run", choices=["flowkit", "serial", "parallel"], help=argparse.SUPPRESS)
    parser.add_argument("--gml", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        if args.run == "flowkit":
            print(json.dumps(run_flowkit(args.files, args.gml)))
        else:
            print(json.dumps(run_msclab(args.files, args.gml, 1 if args.run == "serial" else None)))
        return
    paths, gml = make_data(args.workdir, args.samples, args.events)
    print(f"{args.samples} samples x {args.events} events x {len(CHANNELS)} channels, 8x8 spillover, 7 gates")
    runs = {side: _in_subprocess(side, paths, gml) for side in ("parallel", "serial", "flowkit")}
    flowkit_counts = {k.replace(".fcs|", "|"): v for k, v in runs["flowkit"]["counts"].items()}
    assert runs["serial"]["counts"] == runs["parallel"]["counts"], "counts differ between msclab serial and parallel"
    assert runs["parallel"]["counts"] == flowkit_counts, "counts differ between msclab and FlowKit"
    print(f"counts identical for {len(flowkit_counts)} sample x gate pairs (FlowKit, msclab serial and parallel)")
    theirs = runs["flowkit"]
    for name, res in runs.items():
        ratio = "" if name == "flowkit" else (f"   {theirs['seconds'] / res['seconds']:5.1f}x faster "
                                              f"({theirs['cpu'] / res['cpu']:.1f}x less CPU), "
                                              f"memory {res['peak_mb'] / theirs['peak_mb']:.2f} of FlowKit's")
        print(f"{name:8s} {res['seconds']:8.2f} s  CPU {res['cpu']:7.2f} s   peak RSS {res['peak_mb']:6.0f} MB{ratio}")
    print(f"parallel vs serial msclab: {runs['serial']['seconds'] / runs['parallel']['seconds']:.2f}x "
          f"(targets: >= 10x FlowKit, memory <= 0.25 of FlowKit's)")


if __name__ == "__main__":
    main()

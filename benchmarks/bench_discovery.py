"""Benchmark: discovery clustering + UMAP on pooled events, msclab ``som`` and ``leiden`` vs the flowsom package.

Pools ``--samples`` x ``--events`` synthetic events on ``--markers`` markers
(default 50 x 20,000 x 10 = 1M): ``POPULATIONS`` planted populations, each a
combination of negative / dim / positive marker levels on a logicle-like scale
(Gaussian, SD 0.35 - 0.5), at fractions from 30% down to 0.3% that vary
between samples (Dirichlet, as donors and arms do), so every event has a known
population. Each case runs in its own subprocess on the same events (generated
there from the seed; generation is not timed):

- ``msclab-som``: :func:`msclab.discovery.cluster.cluster_events` with
  ``method="som"`` (``--grid`` x ``--grid`` map, ``--k`` metaclusters) and UMAP of
  ``--umap-events`` events, what discovery runs;
- ``flowsom``: the ``flowsom`` package (PyPI 0.2.2) ``FlowSOM`` on the same
  scaled markers, same grid and ``k`` (run twice in its process: the first
  call compiles its numba kernels, the second is warm);
- ``msclab-leiden``: ``method="leiden"`` (exact kNN graph of every event,
  Leiden, UMAP of ``--umap-events`` events), only with ``--leiden``.

Each prints its wall time per phase (clustering, UMAP), peak RSS
(``ru_maxrss``) and RSS beyond the pooled events (peak minus the RSS once the
events are in memory), and its accuracy against the planted populations:
adjusted Rand index (ARI), purity (events in a cluster whose majority
population is theirs) and the worst population's recovery (share of its
events in clusters it dominates). Then the ratios, all from the same run:
msclab som time / flowsom time, and clustering + UMAP against the 60 s goal
(issue 17). ``uptime`` is printed before and after: the machine is shared, so
absolute times vary; ratios measured in one run are the figures to read.

Usage::

    nice python benchmarks/bench_discovery.py [--samples 50] [--events 20000] [--markers 10] [--k 30]
        [--umap-events 20000] [--leiden] [--cases msclab-som,flowsom]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

#: Planted populations: (fraction, marker levels as 0 negative / 1 dim / 2 positive, cycled over the markers).
POPULATIONS = [
    (0.30, (2, 0, 0, 0, 1, 0, 0, 0)),
    (0.18, (2, 0, 2, 0, 0, 0, 0, 1)),
    (0.12, (0, 2, 0, 0, 1, 0, 0, 0)),
    (0.10, (2, 0, 0, 2, 0, 0, 0, 0)),
    (0.08, (0, 2, 0, 2, 0, 1, 0, 0)),
    (0.06, (2, 0, 1, 0, 2, 0, 0, 0)),
    (0.05, (2, 0, 0, 0, 0, 2, 0, 0)),
    (0.04, (0, 0, 0, 0, 0, 0, 2, 0)),
    (0.03, (2, 0, 0, 0, 0, 0, 0, 2)),
    (0.02, (2, 0, 2, 2, 0, 0, 0, 0)),
    (0.012, (0, 2, 0, 0, 0, 0, 2, 1)),
    (0.005, (2, 0, 0, 0, 2, 2, 0, 0)),
    (0.003, (0, 2, 2, 0, 0, 0, 0, 2)),
]
LEVELS = np.array([0.5, 1.6, 2.8])
SPREAD = np.array([0.35, 0.5, 0.45])


def pooled_events(samples: int, events: int, markers: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events x markers (float32), their planted population and their sample, one sample at a time."""
    rng = np.random.default_rng(seed)
    base = np.array([f for f, _ in POPULATIONS])
    x = np.empty((samples * events, markers), dtype=np.float32)
    truth = np.empty(samples * events, dtype=np.int16)
    for s in range(samples):
        fractions = rng.dirichlet(base * 400)
        labels = rng.choice(len(POPULATIONS), events, p=fractions)
        pattern = np.array([[p[j % len(p)] for j in range(markers)] for _, p in POPULATIONS])[labels]
        rows = slice(s * events, (s + 1) * events)
        x[rows] = rng.normal(LEVELS[pattern], SPREAD[pattern])
        truth[rows] = labels
    return x, truth, np.repeat(np.arange(samples), events)


def accuracy(truth: np.ndarray, labels: np.ndarray) -> dict:
    """ARI, purity and the worst population's recovery of a clustering against the planted populations."""
    from sklearn.metrics import adjusted_rand_score

    _, labels = np.unique(labels, return_inverse=True)
    table = np.zeros((labels.max() + 1, len(POPULATIONS)), dtype=np.int64)
    np.add.at(table, (labels, truth), 1)
    majority = table.argmax(axis=1)
    dominated = np.zeros(len(POPULATIONS), dtype=np.int64)
    np.add.at(dominated, majority, table[np.arange(len(table)), majority])
    recovery = dominated / np.maximum(table.sum(axis=0), 1)
    return {"ari": round(float(adjusted_rand_score(truth, labels)), 4),
            "purity": round(float(table.max(axis=1).sum() / table.sum()), 4),
            "worst_recovery": round(float(recovery.min()), 4), "n_clusters": int(len(table))}


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _timed(module, name: str, phases: dict, key: str) -> None:
    """Wrap ``module.name`` so each call adds its wall time to ``phases[key]``."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[key] = phases.get(key, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)


def run_case(case: str, args) -> dict:
    """Run one case in this process and return its figures."""
    x, truth, sample = pooled_events(args.samples, args.events, args.markers, args.seed)
    baseline = _rss_mb()
    out: dict = {"case": case, "n_events": len(x)}
    if case.startswith("msclab"):
        from msclab.discovery import cluster, som

        phases: dict = {}
        _timed(som, "som_metaclusters", phases, "cluster")
        _timed(cluster, "_leiden", phases, "cluster")
        _timed(cluster, "_umap", phases, "umap")
        start = time.perf_counter()
        adata = cluster.cluster_events(x, [f"M{j}" for j in range(args.markers)], sample,
                                       method=case.removeprefix("msclab-"), n_metaclusters=args.k, grid=args.grid,
                                       umap_events=args.umap_events, seed=args.seed)
        out["total_s"] = time.perf_counter() - start
        out |= {f"{k}_s": v for k, v in phases.items()}
        out["umap_events"] = int(adata.obs["in_umap"].sum())
        labels = adata.obs["cluster"].to_numpy()
    elif case == "flowsom":
        import anndata as ad
        import flowsom

        scaled = (x - x.mean(axis=0)) / x.std(axis=0)
        for attempt in ("cold", "warm"):
            start = time.perf_counter()
            fsom = flowsom.FlowSOM(ad.AnnData(scaled), cols_to_use=[str(j) for j in range(args.markers)], xdim=args.grid,
                                   ydim=args.grid,
                                   n_clusters=args.k, seed=args.seed)
            out[f"{attempt}_s"] = time.perf_counter() - start
        out["total_s"] = out["cold_s"]
        labels = np.asarray(fsom.mudata["cell_data"].obs["metaclustering"])
    else:
        raise SystemExit(f"unknown case {case!r}")
    out |= accuracy(truth, labels)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["pooled_rss_mb"] = baseline
    out["beyond_pooled_mb"] = out["peak_rss_mb"] - baseline
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--markers", type=int, default=10)
    parser.add_argument("--k", type=int, default=30, help="metaclusters (msclab som and flowsom)")
    parser.add_argument("--grid", type=int, default=10, help="side of the SOM grid (msclab som and flowsom)")
    parser.add_argument("--umap-events", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default="msclab-som,flowsom")
    parser.add_argument("--leiden", action="store_true", help="also run msclab-leiden")
    parser.add_argument("--goal", type=float, default=60.0, help="seconds for clustering + UMAP (issue 17)")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_case(args.run, args)))
        return
    cases = args.cases.split(",") + (["msclab-leiden"] if args.leiden else [])
    print(f"{args.samples} samples x {args.events} events x {args.markers} markers, k={args.k}, grid {args.grid}, "
          f"UMAP of at most {args.umap_events} events; cores: {os.cpu_count()}")
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    results = {}
    for case in cases:
        cmd = [sys.executable, __file__, "--run", case, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{case}: FAILED\n{proc.stderr[-2000:]}")
            continue
        results[case] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(results[case]))
    print("uptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print()
    print(f"{'case':<15}{'total s':>9}{'cluster s':>10}{'umap s':>8}{'peak MB':>9}{'beyond MB':>10}"
          f"{'ARI':>7}{'purity':>8}{'worst rec':>10}{'k':>5}")
    for case, r in results.items():
        cluster_s = r.get("cluster_s", r.get("warm_s", float("nan")))
        print(f"{case:<15}{r['total_s']:>9.1f}{cluster_s:>10.1f}{r.get('umap_s', float('nan')):>8.1f}"
              f"{r['peak_rss_mb']:>9.0f}{r['beyond_pooled_mb']:>10.0f}{r['ari']:>7.3f}{r['purity']:>8.3f}"
              f"{r['worst_recovery']:>10.3f}{r['n_clusters']:>5}")
    if "flowsom" in results:
        fs = results["flowsom"]
        print(f"flowsom: {fs['cold_s']:.1f} s first call (numba compile included), {fs['warm_s']:.1f} s warm")
    for case in ("msclab-som", "msclab-leiden"):
        if case in results:
            r = results[case]
            line = f"{case}: clustering + UMAP {r['total_s']:.1f} s = {r['total_s'] / args.goal:.2f} x the " \
                   f"{args.goal:.0f} s goal"
            if "flowsom" in results and case == "msclab-som":
                fs = results["flowsom"]
                line += (f"; clustering / flowsom (cold) = {r['cluster_s'] / fs['cold_s']:.3f}, / flowsom (warm) = "
                         f"{r['cluster_s'] / fs['warm_s']:.3f}; clustering + UMAP / flowsom (cold) = "
                         f"{r['total_s'] / fs['cold_s']:.3f}")
            print(line)


if __name__ == "__main__":
    main()

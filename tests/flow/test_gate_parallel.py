"""``gate_files`` in worker processes gives the records a serial run gives, and the truth's counts."""

from __future__ import annotations

import os
from pathlib import Path

import flowio
import numpy as np
import pandas as pd
import pytest

from msclab import _parallel
from msclab.flow.gating import read_strategy
from msclab.flow.gating.run import gate_files
from msclab.io import open_fcs

pytestmark = pytest.mark.shared_data

COMPLIANCE = "gatingml2_compliance"


def _subsamples(shared_data: Path, folder: Path, n_files: int) -> tuple[list[Path], list[np.ndarray]]:
    """FCS files of different random subsets of the compliance data (scaled values, written linear)."""
    fcs = open_fcs(shared_data / COMPLIANCE / "data1.fcs")
    events = fcs.read_events(scale=True)
    channels = [str(c) for c in fcs.var.index]
    rng = np.random.default_rng(7)
    paths, rows = [], []
    for i in range(n_files):
        keep = np.sort(rng.choice(len(events), size=int(rng.integers(2000, len(events))), replace=False))
        path = folder / f"part{i}.fcs"
        with open(path, "wb") as handle:
            flowio.create_fcs(handle, events[keep].ravel(), channels)
        paths.append(path)
        rows.append(keep)
    return paths, rows


def test_parallel_records_equal_serial_and_truth(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    if _parallel.fork_context() is None or _parallel.n_processes(None, 10) < 2:
        pytest.skip("files are only gated in forked workers on Linux, with 2+ cores, from one thread")
    paths, rows = _subsamples(shared_data, tmp_path, 5)
    paths.insert(2, tmp_path / "missing.fcs")
    strategy = read_strategy(shared_data / COMPLIANCE / "gml/gml_parent_quadrant_rect_gate.xml")

    def note_pid(record, result) -> None:  # runs where the sample was gated
        (tmp_path / f"{record.sample_id}.pid").write_text(str(os.getpid()))

    parallel = gate_files(paths, strategy, on_result=note_pid, n_jobs=2)
    pids = {int(p.read_text()) for p in tmp_path.glob("*.pid")}
    assert pids and os.getpid() not in pids  # gated in worker processes
    serial = gate_files(paths, strategy, n_jobs=1)
    assert [r.sample_id for r in parallel] == [r.sample_id for r in serial] == [p.name for p in paths]
    for a, b in zip(parallel, serial, strict=True):
        assert a.error == b.error and a.leniencies == b.leniencies and a.spillover == b.spillover
        if b.table is None:
            assert a.table is None
        else:
            pd.testing.assert_frame_equal(a.table, b.table)
    assert "missing.fcs" in parallel[2].error
    # each file's count is the truth's per-event membership restricted to its events
    truth = pd.read_csv(shared_data / COMPLIANCE / "truth/Results_FL2P-FL4N.txt", header=None, dtype=bool)[0].to_numpy()
    gated = [r for r in parallel if r.table is not None]
    for record, keep in zip(gated, rows, strict=True):
        count = record.table.set_index("gate_id").loc["FL2P-FL4N", "count"]
        assert count == truth[keep].sum(), record.sample_id

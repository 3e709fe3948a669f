"""Gate plots: one PNG per sample, the same bytes whether drawn in worker processes, in the background or not."""

from __future__ import annotations

import os

import pytest

import msclab
from msclab import _parallel
from msclab.flow.panel import quantify_panel


def test_plots_from_worker_processes_equal_the_serial_ones(sim_study, tmp_path, monkeypatch):
    if _parallel.fork_context() is None or _parallel.n_processes(None, 10) < 2:
        pytest.skip("plots are only drawn in forked workers on Linux, with 2+ cores, from one thread")
    experiment = msclab.read_experiment(sim_study / "experiment.yaml")
    parallel = quantify_panel(experiment, "treg", plots_dir=tmp_path / "parallel")
    background = quantify_panel(experiment, "treg", plots_dir=tmp_path / "background", background_plots=True)
    assert background.plotting is not None
    assert list(background.wait_plots()) == list(parallel.plots) and background.plotting is None
    with monkeypatch.context() as m:
        m.setattr(_parallel, "fork_context", lambda: None)
        serial = quantify_panel(experiment, "treg", plots_dir=tmp_path / "serial")
    assert list(parallel.plots) == list(serial.plots) == list(parallel.resolved)
    for sid, path in serial.plots.items():
        assert path.read_bytes() == parallel.plots[sid].read_bytes() and path.stat().st_size > 10_000, sid
        assert path.read_bytes() == (tmp_path / "background" / path.name).read_bytes(), sid
    assert sorted(os.listdir(tmp_path / "parallel")) == sorted(os.listdir(tmp_path / "serial"))
    assert sorted(os.listdir(tmp_path / "background")) == sorted(os.listdir(tmp_path / "serial"))

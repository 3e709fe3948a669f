"""A bad file fails its sample only; the reason is in the registry; exit code 1 lists it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from msclab.batch import Registry
from msclab.cli import app

from .conftest import CLI_SETTINGS, zero_events


def test_bad_file_fails_its_sample_only(copy_study, tmp_path):
    bad = copy_study("bad")
    zero_events(bad / "fcs" / "D1_msc10_treg.fcs")
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["batch", str(bad), "-o", str(out), "--serial", "--quiet", *CLI_SETTINGS])
    assert result.exit_code == 1, result.output
    assert "bad flow:treg D1_msc10" in result.output

    registry = Registry(out / "runs.sqlite")
    run = registry.runs()[-1]
    samples = registry.samples(run["run_id"])
    registry.close()
    failed = [s for s in samples if s["status"] == "failed"]
    assert [(s["plate"], s["stage"], s["sample_id"]) for s in failed] == [("bad", "flow:treg", "D1_msc10")]
    assert "gate" in failed[0]["reason"]
    assert len(samples) == 22 and run["status"] == "failed" and run["n_failed"] == 1
    assert sum(s["status"] == "ok" for s in samples) == 21  # the rest went on
    assert (out / "bad" / "readouts.csv").is_file()

    status = runner.invoke(app, ["batch", "status", str(out), "--json"])
    assert status.exit_code == 0
    report = json.loads(status.output)
    assert [(p["plate"], p["status"], p["n_failed"]) for p in report["plates"]] == [("bad", "done", 1)]
    table = runner.invoke(app, ["batch", "status", str(out)])
    assert table.exit_code == 0 and "D1_msc10" in table.output


def test_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--serial", "--scheduler", "x"])
    assert result.exit_code == 2
    assert runner.invoke(app, ["batch", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]).exit_code == 2
    assert runner.invoke(app, ["batch", "status", str(tmp_path)]).exit_code == 2

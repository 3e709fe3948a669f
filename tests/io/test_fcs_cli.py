"""`msclab fcs info FILE [--json]`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from msclab.cli import app


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.shared_data
def test_info_json(shared_data):
    path = shared_data / "fcs_edge_cases" / "coulter.lmd"
    result = _run("fcs", "info", str(path), "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["version"] == "3.0" and out["n_events"] == 18110 and out["n_channels"] == 8
    assert [ds["version"] for ds in out["data_sets"]] == ["2.0", "3.0"]
    assert [c["name"] for c in out["channels"]] == ["FS", "SS", "FL1", "FL2", "FL3", "FL4", "FL5", "TIME"]
    assert out["leniencies"]


@pytest.mark.shared_data
def test_info_table_shows_markers_spillover_and_leniencies(shared_data):
    path = shared_data / "flowjo_workspaces" / "flowsom_68983" / "68983.fcs"
    result = _run("fcs", "info", str(path))
    assert result.exit_code == 0
    out = result.stdout
    assert "19,225 events x 18 channels" in out
    assert "CD3" in out and "TCRb" in out
    assert "spillover: SPILL (11 detectors)" in out
    assert "leniencies applied" in out


@pytest.mark.shared_data
def test_refused_file_exits_2_without_traceback(shared_data):
    path = shared_data / "fcs_edge_cases" / "data_start_offset_discrepancy_example.fcs"
    result = _run("fcs", "info", str(path))
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "Traceback" not in err
    assert "data_start_offset_discrepancy_example.fcs" in err and "HEADER" in err


def test_help_mentions_what_it_shows():
    result = _run("fcs", "info", "--help")
    assert result.exit_code == 0
    assert "leniencies" in result.stdout

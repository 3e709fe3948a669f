"""Nothing lost: inputs are never modified, outputs are atomic, unwritable outputs give a clear error.

Every command is run through ``typer.testing.CliRunner`` on ``msclab.cli.app``
with the SHA-256 of every input taken before and after. Atomicity is tested by
raising in the middle of a write; a full disk by making ``os.replace`` or a
write fail with ``ENOSPC``; an unwritable output folder by pointing it under a
regular file (tests may run as root, where permission bits do not stop writes).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import hardening_support as hs
import pytest
from typer.testing import CliRunner

from msclab import _files
from msclab.cli import app
from msclab.errors import MsclabError

pytestmark = pytest.mark.timeout(300)

GATINGML = """<?xml version="1.0"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <gating:RectangleGate gating:id="Cells"><gating:dimension gating:min="50000">
    <data-type:fcs-dimension data-type:name="FSC-A"/></gating:dimension></gating:RectangleGate>
</gating:Gating-ML>
"""


@pytest.fixture()
def study(repo_root: Path, tmp_path: Path) -> Path:
    """A full copy of example_data (real files, no links), read-write like a user's folder."""
    target = tmp_path / "study"
    shutil.copytree(repo_root / "example_data", target)
    (target / "cells.xml").write_text(GATINGML)
    return target


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), f"{args}: exit {result.exit_code}\n{result.output}"


def _commands(study: Path, out: Path) -> dict[str, list[str]]:
    fcs = study / "fcs" / "D1_pbmc_treg.fcs"
    return {
        "validate": ["validate", str(study / "experiment.yaml")],
        "init": ["init", str(study), "-o", str(out / "draft")],
        "fcs_info": ["fcs", "info", str(fcs), "--json"],
        "gate": ["gate", str(fcs), str(study / "fcs" / "D2_pbmc_treg.fcs"), "--strategy", str(study / "cells.xml"),
                 "-o", str(out / "gate"), "--events"],
        "assay_fit": ["assay", "fit", str(study / "elisa" / "ifng_plate1.csv"), "--layout",
                      str(study / "elisa" / "ifng_plate1_layout.csv"), "-o", str(out / "assay"), "--no-plots"],
        "simulate": ["simulate", "-o", str(out / "sim"), "--donors", "1", "--events", "500"],
    }


@pytest.mark.parametrize("command", ["validate", "init", "fcs_info", "gate", "assay_fit", "simulate"])
def test_inputs_are_byte_identical_after_each_command(study, tmp_path, command):
    out = tmp_path / "out"
    before = hs.sha256_tree([study])
    _invoke(_commands(study, out)[command])
    assert hs.sha256_tree([study]) == before
    assert not [p for p in study.rglob("*") if p.name.endswith(".part") or p.name.startswith(".")]


@pytest.mark.shared_data
def test_shared_files_are_byte_identical_after_fcs_info(shared_data, tmp_path):
    files = sorted((shared_data / "fcs_edge_cases").iterdir())
    before = hs.sha256_tree(files)
    for file in files:
        CliRunner().invoke(app, ["fcs", "info", str(file)])
    assert hs.sha256_tree(files) == before


@pytest.mark.slow
def test_inputs_are_byte_identical_after_analyze(study, tmp_path):
    before = hs.sha256_tree([study])
    _invoke(["analyze", str(study / "experiment.yaml"), "-o", str(tmp_path / "analysis"), "--no-plots",
             "--n-boot", "200"])
    assert hs.sha256_tree([study]) == before


def test_simulate_leaves_unrelated_files_in_its_folder_alone(tmp_path):
    keep = tmp_path / "sim" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("my notes")
    _invoke(["simulate", "-o", str(tmp_path / "sim"), "--donors", "1", "--events", "500"])
    assert keep.read_text() == "my notes"


# -- atomic outputs -------------------------------------------------------------------------------------------

class Crash(Exception):
    """Stands for anything that stops a writer half-way (a bug, Ctrl-C, a killed worker)."""


@pytest.mark.parametrize("previous", [None, "the previous result\n"])
def test_atomic_write_leaves_the_previous_result_or_none_on_a_crash(tmp_path, previous):
    target = tmp_path / "populations.csv"
    if previous is not None:
        target.write_text(previous)
    with pytest.raises(Crash), _files.atomic_write(target) as handle:
        handle.write("half of the new resu")
        raise Crash
    assert (target.read_text() if target.exists() else None) == previous
    assert list(tmp_path.iterdir()) == ([target] if previous else [])


@pytest.mark.parametrize("previous", [None, b"previous"])
def test_atomic_path_leaves_the_previous_result_or_none_on_a_crash(tmp_path, previous):
    target = tmp_path / "readouts.h5ad"
    if previous is not None:
        target.write_bytes(previous)
    with pytest.raises(Crash), _files.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise Crash
    assert (target.read_bytes() if target.exists() else None) == previous
    assert list(tmp_path.iterdir()) == ([target] if previous else [])


def test_a_crash_while_a_command_writes_keeps_the_previous_outputs(study, tmp_path, monkeypatch):
    out = tmp_path / "assay"
    args = _commands(study, tmp_path)["assay_fit"]
    _invoke(args)
    before = hs.sha256_tree([out])
    real = _files.os.replace
    calls = []

    def crash_on_second_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise Crash("killed mid-run")
        return real(src, dst)

    monkeypatch.setattr(_files.os, "replace", crash_on_second_replace)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3  # an unexpected exception: 'internal error', never a traceback
    assert hs.sha256_tree([out]) == before  # every file is the previous complete version
    assert not [p for p in out.rglob("*") if ".part" in p.name]


# -- full disk, unwritable output folder -------------------------------------------------------------------------

def test_a_full_disk_gives_a_clear_error_and_no_file(tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_files.os, "fsync", no_space)
    target = tmp_path / "curves.csv"
    with pytest.raises(MsclabError, match="No space left on device") as caught, _files.atomic_write(target) as h:
        h.write("x")
    assert "curves.csv" in str(caught.value) and "free space" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_a_command_gives_exit_2(study, tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_files.os, "replace", no_space)
    result = CliRunner().invoke(app, _commands(study, tmp_path)["assay_fit"])
    assert result.exit_code == 2, result.output
    assert "No space left on device" in " ".join(result.output.split())


@pytest.mark.parametrize("command", [
    "init", "gate", "assay_fit", "gate_events",
])
def test_an_output_folder_under_a_regular_file_gives_exit_2(study, tmp_path, command):
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    commands = _commands(study, blocker / "sub")
    commands["gate_events"] = commands["gate"]
    commands["gate"] = [a for a in commands["gate"] if a != "--events"]
    result = CliRunner().invoke(app, commands[command])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert blocker.read_text() == "a file, not a folder"


def test_an_output_under_proc_gives_a_clear_error(tmp_path):
    with pytest.raises(MsclabError, match="cannot write here"), _files.atomic_write("/proc/msclab/out.csv") as h:
        h.write("x")


def test_atomic_path_under_a_regular_file_gives_a_clear_error(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(MsclabError), _files.atomic_path(tmp_path / "out" / "readouts.h5ad") as tmp:
        tmp.write_bytes(b"x")


def test_analyze_outputs_under_a_regular_file_give_a_clear_error(tmp_path):
    from msclab.pipeline import write_outputs

    (tmp_path / "out").write_text("a file")
    with pytest.raises(MsclabError):
        write_outputs(None, tmp_path / "out" / "sub")  # fails before it looks at the result

"""``msclab init`` on real plates: detectors without ``$PnS``, plate folders, time channels.

Each case runs ``python -m msclab init`` in a subprocess and checks the exit
code, the drafted files and that no traceback reaches the user.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from msclab.io.fcs import open_fcs

HERE = Path(__file__).resolve().parent


def _build_fcs():
    """``build_fcs`` of the hardening tests (a valid FCS 3.1 writer)."""
    if "hardening_support" not in sys.modules:
        spec = importlib.util.spec_from_file_location("hardening_support", HERE.parent / "hardening" / "_support.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["hardening_support"] = module
        spec.loader.exec_module(module)
    return sys.modules["hardening_support"].build_fcs


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "msclab", *args], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stdout + result.stderr and "bug in msclab" not in result.stderr, result.stderr
    return result


def test_two_plate_folders_without_markers_draft_todo_detectors_and_unique_ids(shared_data, tmp_path):
    # Real FACSCalibur files: no $PnS on the fluorescence detectors, no plate keyword, and one $SRC
    # ("Default Patient Name") for every file. The same wells on two plates, as a core facility exports them.
    study = tmp_path / "run"
    files = sorted((shared_data / "fcs_real" / "flowcore_extdata").iterdir())
    for plate in ("plate_1", "plate_2"):
        (study / plate).mkdir(parents=True)
        for f in files:
            shutil.copy(f, study / plate / f"{f.name.replace('.', '_')}.fcs")
    result = run("init", str(study))
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load((study / "experiment.yaml").read_text())
    sheet = pd.read_csv(study / "samplesheet.csv", dtype=str, keep_default_na=False)

    (panel,) = manifest["panels"].values()
    # FL1-H has an FL1-A beside it (the area detector is drafted); scatter and Time never are.
    assert sorted(panel["markers"]) == ["FL1-A", "FL2-H", "FL3-H", "FL4-H"]
    assert all(m.startswith("TODO") for m in panel["markers"].values())
    assert sorted(sheet["plate"]) == ["plate_1"] * 3 + ["plate_2"] * 3
    assert sheet["sample_id"].is_unique and len(sheet) == 2 * len(files)
    assert sorted(sheet["well"]) == sorted(["B8", "E7", "F6"] * 2)
    assert not sheet.duplicated(["plate", "well"]).any()

    checked = run("validate", str(study))
    assert checked.returncode == 2
    text = checked.stdout + checked.stderr
    assert "markers" in text and "FL1-A" in text  # the TODO detectors are listed, not "markers: {}" refused
    assert "duplicate" not in text.lower()
    assert "at least 1" not in text


def _write(path: Path, names: list[str], labels: list[str], columns: list[np.ndarray]) -> None:
    keywords = {"$BYTEORD": "1,2,3,4", "$DATATYPE": "F", "$MODE": "L", "$NEXTDATA": "0",
                "$PAR": str(len(names)), "$TOT": str(len(columns[0])), "$CYT": "MACSQuant"}
    for n, (name, label) in enumerate(zip(names, labels, strict=True), start=1):
        keywords |= {f"$P{n}N": name, f"$P{n}B": "32", f"$P{n}R": "262144", f"$P{n}E": "0,0"}
        if label:
            keywords[f"$P{n}S"] = label
    events = np.column_stack(columns).astype("<f4")
    path.write_bytes(_build_fcs()(keywords, events.tobytes()))


def test_time_channels_by_name_and_by_values_are_never_markers(tmp_path):
    rng = np.random.default_rng(1)
    n = 500
    clock = np.cumsum(rng.integers(0, 4, n)).astype(float)  # ties included: non-decreasing, not constant
    fsc, ssc, cd4, other = (rng.lognormal(8, 1, n) for _ in range(4))
    study = tmp_path / "macsquant"
    study.mkdir()
    # MACSQuant names its time channel HDR-T; the second file's clock has a name no pattern knows.
    _write(study / "A1.fcs", ["HDR-T", "FSC-A", "SSC-A", "V1-A", "B1-A"], ["", "", "", "", ""],
           [clock, fsc, ssc, cd4, other])
    _write(study / "A2.fcs", ["TK", "FSC-A", "SSC-A", "V1-A", "B1-A"], ["", "", "", "", ""],
           [clock, fsc, ssc, cd4, other])
    assert open_fcs(study / "A1.fcs").var.loc["HDR-T", "type"] == "time"
    assert open_fcs(study / "A1.fcs").time_channels() == ["HDR-T"]
    assert open_fcs(study / "A2.fcs").time_channels() == ["TK"]
    assert open_fcs(study / "A2.fcs").var.loc["TK", "type"] == "fluorescence"  # only its values tell

    result = run("init", str(study))
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load((study / "experiment.yaml").read_text())
    (panel,) = manifest["panels"].values()  # both files: the same panel once the clocks are set aside
    assert set(panel["markers"]) == {"V1-A", "B1-A"}
    assert all(m.startswith("TODO") for m in panel["markers"].values())
    sheet = pd.read_csv(study / "samplesheet.csv", dtype=str, keep_default_na=False)
    assert sorted(sheet["well"]) == ["A1", "A2"] and set(sheet["plate"]) == {""}

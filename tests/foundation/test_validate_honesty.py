"""``validate`` refuses what ``analyze`` would refuse, blames the right file, and groups what is repeated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from msclab.experiment import validate_experiment
from msclab.experiment.validate import count_todo
from msclab.io.assay import reader, resolve_format

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def study(tmp_path) -> Path:
    shutil.copytree(REPO / "example_data", tmp_path / "study")
    return tmp_path / "study"


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_documented_format_names_are_aliases(study):
    edit(study / "experiment.yaml", "format: grid", "format: GRID")
    assert validate_experiment(study / "experiment.yaml") == []
    assert reader("magellan").name == "tecan_magellan"
    grid = study / "elisa" / "ifng_plate1.csv"
    assert resolve_format(grid, "plate_grid") == "grid"


def test_an_export_in_no_known_format_fails_validation(study):
    (study / "elisa" / "ifng_plate1.csv").write_text("this is not an assay export\n1,2,3\n")
    edit(study / "experiment.yaml", "format: grid", "format: auto")
    problems = validate_experiment(study / "experiment.yaml")
    assert len(problems) == 1, problems
    assert "unknown format" in str(problems[0]) and "assays.0" in str(problems[0])


def test_an_unknown_format_name_fails_validation(study):
    edit(study / "experiment.yaml", "format: grid", "format: magelan")
    problems = validate_experiment(study / "experiment.yaml")
    assert len(problems) == 1 and "unknown format 'magelan'" in str(problems[0])


def test_a_marker_typo_is_one_problem_on_the_manifest_line(study):
    manifest = study / "experiment.yaml"
    edit(manifest, "R670-A: FoxP3", "R670-A: FoxP-3")
    edit(manifest, "FoxP3: fmo", "FoxP-3: fmo")
    line = next(i for i, text in enumerate(manifest.read_text().splitlines(), 1) if "FoxP-3" in text)
    problems = validate_experiment(manifest)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.file == manifest and problem.where.startswith(f"line {line} ")
    assert "FoxP-3" in str(problem) and "'FoxP3'" in str(problem)


def test_todo_cells_are_one_problem_per_column_and_not_also_a_bad_ratio(study):
    sheet = pd.read_csv(study / "samplesheet.csv", dtype=str, keep_default_na=False)
    sheet["donor"] = "TODO"
    sheet["msc_ratio"] = "TODO"
    sheet.to_csv(study / "samplesheet.csv", index=False)
    problems = validate_experiment(study / "experiment.yaml")
    text = [str(p) for p in problems]
    assert not any("not a ratio" in t for t in text), text
    todo = [t for t in text if "still TODO" in t]
    assert len(todo) == 2, text
    assert f"{len(sheet)} cells of column 'donor'" in " ".join(todo)
    assert f"lines 2-{len(sheet) + 1}" in todo[0]
    assert count_todo(sheet) == 2 * len(sheet)

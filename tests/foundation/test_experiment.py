"""The experiment model: reading, validation that reports every problem, and init."""

from __future__ import annotations

import re

import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import msclab
from msclab.cli import app
from msclab.errors import ManifestError
from msclab.experiment import validate_experiment

runner = CliRunner()


@pytest.fixture()
def study_copy(small_study, tmp_path):
    """A writable copy of the small simulated study."""
    folder, truth = small_study
    target = tmp_path / "study"
    shutil.copytree(folder, target)
    return target, truth


def test_read_experiment_gives_a_samples_table(small_study):
    folder, truth = small_study
    exp = msclab.read_experiment(folder / "experiment.yaml")
    assert isinstance(exp.samples, pd.DataFrame)
    assert set(exp.samples.index) == set(truth["samples"])
    assert exp.samples.loc["D1_msc10", "ratio"] == pytest.approx(0.1)
    assert exp.samples.loc["D2_fmo_foxp3", "control_type"] == "fmo"
    assert len(exp.files("treg")) == 2 * 5
    assert set(exp.spec.panels) == {"th_ics", "treg"}


def test_five_planted_mistakes_are_all_reported(study_copy):
    folder, _ = study_copy
    sheet = pd.read_csv(folder / "samplesheet.csv", dtype=str, keep_default_na=False)
    # 1. a missing file
    sheet.loc[0, "file"] = "fcs/not_there.fcs"
    # 2. a duplicate sample id (same sample and panel twice)
    sheet.loc[3, "sample_id"] = sheet.loc[1, "sample_id"]
    sheet.loc[3, "panel"] = sheet.loc[1, "panel"]
    sheet.loc[3, ["donor", "condition", "msc_ratio", "stimulus", "msc_source", "msc_licensing", "control_type"]] = \
        sheet.loc[1, ["donor", "condition", "msc_ratio", "stimulus", "msc_source", "msc_licensing", "control_type"]]
    # 3. an unknown marker
    fmo = sheet.index[sheet["control_type"] == "fmo"][0]
    sheet.loc[fmo, "control_for"] = "FoxP4"
    # 4. a well outside a 96-well plate
    sheet.loc[5, "well"] = "I13"
    # 5. a control referenced but absent: donor D2's FoxP3 FMO removed
    sheet = sheet[~((sheet["donor"] == "D2") & (sheet["control_type"] == "fmo"))]
    sheet.to_csv(folder / "samplesheet.csv", index=False)

    problems = [str(p) for p in validate_experiment(folder / "experiment.yaml")]
    text = "\n".join(problems)
    assert "not_there.fcs" in text and "does not exist" in text
    assert "duplicate sample_id" in text
    assert "FoxP4" in text
    assert "'I13' is not on a 96-well plate" in text
    assert re.search(r"donors? [^.]*\bD2\b[^.]* (has|have) none", text)
    assert all("samplesheet.csv" in p or "experiment.yaml" in p for p in problems)
    assert any("line 2" in p for p in problems)  # the missing file is on the first data line

    result = runner.invoke(app, ["validate", str(folder / "experiment.yaml")])
    assert result.exit_code == 2
    for needle in ("not_there.fcs", "duplicate", "FoxP4", "I13", "D2 have none"):
        assert needle in result.output


def test_read_experiment_raises_with_every_problem(study_copy):
    folder, _ = study_copy
    manifest = yaml.safe_load((folder / "experiment.yaml").read_text())
    manifest["contrasts"][0]["treatment"]["msc_ratio"] = "1:7"
    manifest["panels"]["treg"]["markers"]["X999-A"] = "CD39"
    (folder / "experiment.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(ManifestError) as info:
        msclab.read_experiment(folder / "experiment.yaml")
    messages = "\n".join(str(p) for p in info.value.problems)
    assert "matches no sample" in messages
    assert "X999-A" in messages


def test_bad_yaml_names_the_line(tmp_path):
    bad = tmp_path / "experiment.yaml"
    bad.write_text("name: x\nsamplesheet: s.csv\npanels:\n  a: [unclosed\n")
    problems = validate_experiment(bad)
    assert len(problems) == 1
    assert "line" in problems[0].where


def test_unknown_field_and_missing_field_are_reported(tmp_path):
    bad = tmp_path / "experiment.yaml"
    bad.write_text("nmae: x\nsamplesheet: s.csv\n")
    text = "\n".join(str(p) for p in validate_experiment(bad))
    assert "field 'nmae'" in text and "not a known field" in text
    assert "field 'name'" in text and "required" in text


def test_cli_bad_input_prints_no_traceback(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "does not exist" in result.output


def test_init_drafts_a_manifest_that_validates_once_the_todos_are_filled(small_study, tmp_path):
    folder, truth = small_study
    out = tmp_path / "run"  # the instrument's folder, as exported: no manifest yet
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("experiment.yaml", "samplesheet.csv", "truth.json"))
    result = runner.invoke(app, ["init", str(out)])
    assert result.exit_code == 0, result.output
    sheet = pd.read_csv(out / "samplesheet.csv", dtype=str, keep_default_na=False)
    assert len(sheet) == len(truth["files"])
    # Before filling: validate refuses, naming TODO cells; init's TODO count is validate's.
    problems = [str(p) for p in validate_experiment(out / "experiment.yaml")]
    assert any("TODO" in p for p in problems)
    n_todo = sum(int(re.search(r"(\d+) cells? of column", p).group(1)) for p in problems if "of column" in p)
    n_fields = sum("is still 'TODO" in p for p in problems)
    assert f"{n_todo} TODO cell(s)" in result.output and f"{n_fields} TODO field(s)" in result.output
    # The controls come from the FMO and unstimulated tubes found, as the study's own manifest has them.
    drafted = yaml.safe_load((out / "experiment.yaml").read_text())["panels"]
    truth_panels = yaml.safe_load((folder / "experiment.yaml").read_text())["panels"]
    assert {k: v["controls"] for k, v in drafted.items()} == {k: v["controls"] for k, v in truth_panels.items()}
    # Wells and sample ids come from $WELLID / $SRC of the files.
    original = pd.read_csv(folder / "samplesheet.csv", dtype=str, keep_default_na=False)
    merged = sheet.merge(original, on=["sample_id", "panel"], suffixes=("", "_truth"))
    assert len(merged) == len(sheet)
    assert (merged["well"] == merged["well_truth"]).all()

    # Fill only the TODO cells, with what the scientist knows.
    for column in sheet.columns:
        todo = sheet[column] == "TODO"
        if todo.any():
            sheet.loc[todo, column] = merged.loc[todo, f"{column}_truth"]
    sheet.to_csv(out / "samplesheet.csv", index=False)
    manifest = yaml.safe_load((out / "experiment.yaml").read_text())
    manifest["name"] = "drafted study"
    for name, panel in manifest["panels"].items():
        if str(panel["protocol"]).startswith("TODO"):
            panel["protocol"] = name
    manifest["contrasts"][0]["treatment"]["condition"] = "PBMC+MSC"
    manifest["contrasts"][0]["control"]["condition"] = "PBMC"
    for assay in manifest["assays"]:
        if str(assay["analyte"]).startswith("TODO"):
            assay["analyte"] = "IFN-g"
        assert not str(assay["layout"]).startswith("TODO")  # layouts were paired by name
    (out / "experiment.yaml").write_text(yaml.safe_dump(manifest))
    assert [str(p) for p in validate_experiment(out / "experiment.yaml")] == []
    assert {p for p in manifest["panels"]} == {"th_ics", "treg"}


def test_init_refuses_to_overwrite(small_study):
    folder, _ = small_study
    result = runner.invoke(app, ["init", str(folder)])
    assert result.exit_code == 2
    assert "already exists" in result.output


def test_init_elsewhere_needs_allow_to_validate(small_study, tmp_path):
    folder, _ = small_study
    out = tmp_path / "drafts"
    result = runner.invoke(app, ["init", str(folder), "-o", str(out)])
    assert result.exit_code == 0
    assert "--allow" in " ".join(result.output.split())
    outside = validate_experiment(out / "experiment.yaml")
    assert any("inside the folder of experiment.yaml" in str(p) for p in outside)
    allowed = [str(p) for p in validate_experiment(out / "experiment.yaml", allow=[folder])]
    assert not any("inside the folder" in p for p in allowed)
    result = runner.invoke(app, ["validate", str(out / "experiment.yaml"), "--allow", str(folder)])
    assert "inside the folder" not in " ".join(result.output.split())

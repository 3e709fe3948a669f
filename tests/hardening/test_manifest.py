"""The experiment manifest and samplesheet: safe YAML only, paths confined, every mutation reported.

- A manifest is data: YAML tags that build Python objects are refused with a
  clear message, and alias bombs ("billion laughs") are refused quickly.
- Paths: every path in experiment.yaml and samplesheet.csv must stay inside
  the manifest's folder (``..`` resolved, absolute paths included) unless the
  caller allows another folder; an escaping file is never opened.
- ``validate_experiment`` on any mutation returns problems (each an
  MsclabError naming a file) and never raises.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import hardening_support as hs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import msclab
from msclab.cli import app
from msclab.errors import ManifestError, MsclabError
from msclab.experiment import validate_experiment

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def study(repo_root: Path, tmp_path: Path) -> Path:
    """example_data's manifest, samplesheet and ELISA files in a fresh folder, its FCS files linked in."""
    source = repo_root / "example_data"
    target = tmp_path / "study"
    shutil.copytree(source / "elisa", target / "elisa")
    (target / "fcs").symlink_to(source / "fcs")
    for name in ("experiment.yaml", "samplesheet.csv"):
        shutil.copy(source / name, target / name)
    return target


def _channels_spy(opened: list[Path]):
    def read_channels(path: Path) -> dict[str, str]:
        opened.append(path)
        return {}
    return read_channels


def _edit_manifest(study: Path, edit) -> Path:
    path = study / "experiment.yaml"
    manifest = yaml.safe_load(path.read_text())
    edit(manifest)
    path.write_text(yaml.safe_dump(manifest))
    return path


# -- no code from data ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['touch PWNED']",
                                 "!!python/object/new:builtins.dict {}", "!!python/name:os.system"])
def test_python_tags_are_refused_with_a_clear_message(tmp_path, tag, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "experiment.yaml"
    path.write_text(f"name: {tag}\nsamplesheet: samplesheet.csv\n")
    problems = validate_experiment(path)
    assert not (tmp_path / "PWNED").exists()
    assert len(problems) == 1 and "experiment.yaml" in str(problems[0]) and "line 1" in str(problems[0])
    assert "YAML tag msclab does not accept" in str(problems[0]) and "never" in str(problems[0])


def test_python_tags_in_the_cli_give_exit_2(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\nsamplesheet: s.csv\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "YAML tag" in output and "Traceback" not in output


def test_packaged_data_and_loaders_never_unpickle_or_eval(repo_root):
    """Static guard: no pickle, eval/exec or unsafe YAML loader anywhere in msclab's source."""
    banned = ("import pickle", "pickle.load", "read_pickle", "allow_pickle=True", "yaml.unsafe_load", "yaml.full_load",
              "Loader=yaml.Loader", "Loader=yaml.FullLoader", "Loader=yaml.UnsafeLoader", "eval(", "exec(",
              "marshal.load", "shelve.open", "dill.", "joblib.load")
    hits = [f"{path.relative_to(repo_root)}: {needle}" for path in (repo_root / "src" / "msclab").rglob("*.py")
            for needle in banned if needle in path.read_text(encoding="utf-8")]
    assert hits == []


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    path = tmp_path / "experiment.yaml"
    path.write_text("\n".join(lines) + "\nname: x\nsamplesheet: s.csv\n")
    started = time.monotonic()
    problems = validate_experiment(path)
    assert time.monotonic() - started < 2
    assert len(problems) == 1 and "YAML aliases" in str(problems[0])


def test_deeply_nested_yaml_is_refused(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("name: " + "[" * 5000 + "]" * 5000 + "\nsamplesheet: s.csv\n")
    problems = validate_experiment(path)
    assert len(problems) == 1 and "experiment.yaml" in str(problems[0])


# -- paths --------------------------------------------------------------------------------------------------

def test_example_study_is_valid_with_the_path_rule(study):
    assert validate_experiment(study / "experiment.yaml") == []


@pytest.mark.parametrize("field, value", [
    ("samplesheet", "../outside.csv"), ("samplesheet", "/etc/passwd"), ("catalogue", "../../cat.yaml"),
    ("assay_file", "elisa/../../x.csv"), ("assay_layout", "/tmp/layout.csv"), ("protocol", "../p.yaml"),
    ("protocol", "../../../etc/shadow"),
])
def test_manifest_paths_leaving_the_folder_are_refused_before_opening(study, field, value):
    outside = study.parent / "outside.csv"
    shutil.copy(study / "samplesheet.csv", outside)

    def edit(m: dict) -> None:
        if field == "assay_file":
            m["assays"][0]["file"] = value
        elif field == "assay_layout":
            m["assays"][0]["layout"] = value
        elif field == "protocol":
            m["panels"]["treg"]["protocol"] = value
        else:
            m[field] = value

    opened: list[Path] = []
    problems = validate_experiment(_edit_manifest(study, edit), read_channels=_channels_spy(opened))
    text = "\n".join(str(p) for p in problems)
    assert f"{value!r} leads outside the experiment folder" in text, text
    assert "experiment.yaml" in text and "allow" in text
    assert opened == []  # nothing named by the manifest was read


@pytest.mark.parametrize("value", ["../x", "a/b", "..", "a\\b"])
def test_assay_ids_and_panel_names_cannot_be_paths(study, value):
    def edit(m: dict) -> None:
        m["assays"][0]["id"] = value
        m["panels"][value] = m["panels"].pop("treg")

    problems = [str(p) for p in validate_experiment(_edit_manifest(study, edit))]
    assert sum("cannot be used as a folder name" in p for p in problems) == 2, problems


@pytest.mark.parametrize("value", ["../../fcs/x.fcs", "/etc/passwd", "fcs/../../../outside.fcs"])
def test_samplesheet_paths_leaving_the_folder_are_refused_and_not_opened(study, value):
    sheet = study / "samplesheet.csv"
    lines = sheet.read_text().splitlines()
    first = lines[1].split(",")
    first[1] = value
    lines[1] = ",".join(first)
    sheet.write_text("\n".join(lines) + "\n")
    opened: list[Path] = []
    problems = [str(p) for p in validate_experiment(study / "experiment.yaml", read_channels=_channels_spy(opened))]
    assert any("samplesheet.csv, line 2" in p and "leads outside the experiment folder" in p for p in problems)
    assert all(Path(p).resolve().is_relative_to(study.resolve()) or p.parent.name == "fcs" for p in opened)
    assert not any(value.split("/")[-1] == p.name for p in opened)
    with pytest.raises(ManifestError, match="leads outside"):
        msclab.read_experiment(study / "experiment.yaml")


def test_an_explicitly_allowed_folder_may_be_used(study, tmp_path):
    shared = tmp_path / "shared_plates"
    shared.mkdir()
    shutil.copy(study / "elisa" / "ifng_plate1.csv", shared / "ifng.csv")

    def edit(m: dict) -> None:
        m["assays"][0]["file"] = str(shared / "ifng.csv")

    path = _edit_manifest(study, edit)
    assert any("leads outside" in str(p) for p in validate_experiment(path))
    assert validate_experiment(path, allow=[shared]) == []
    assert msclab.read_experiment(path, allow=[shared]).spec.assays[0].file == shared / "ifng.csv"


def test_the_validate_command_reports_an_escaping_path_with_exit_2(study):
    _edit_manifest(study, lambda m: m.update(samplesheet="../../../../etc/passwd"))
    result = CliRunner().invoke(app, ["validate", str(study / "experiment.yaml")])
    assert result.exit_code == 2 and "leads outside the experiment folder" in " ".join(result.output.split())


# -- property-based: mutated manifests and samplesheets --------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(("../x", "/etc/passwd", "TODO", "1:0", "A0", "Z99", "")))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                           inner, max_size=3),
                      max_leaves=8)
FIELDS = ("name", "samplesheet", "context", "plate_format", "panels", "assays", "contrasts", "catalogue",
          "catalogue_mapping", "unknown_field", "panels.treg.markers", "panels.treg.controls", "panels.treg.protocol",
          "assays.0.file", "assays.0.layout", "assays.0.format", "assays.0.id", "contrasts.0.treatment",
          "contrasts.0.pair_by", "contrasts.0.match_on")
SHEET_TOKENS = ("", "TODO", "../a.fcs", "/etc/passwd", "1:0", "1:10:3", "I13", "a0", "fmo", "FoxP4", "nan", '"', ";",
                "\x00", "D1_pbmc", "treg", "x" * 300)


def _set(tree: dict, dotted: str, value: object) -> None:
    node: object = tree
    *parents, last = dotted.split(".")
    for key in parents:
        if isinstance(node, list):
            node = node[int(key) % len(node)] if key.isdigit() and node else None
        else:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, list):
        if last.isdigit() and node:
            node[int(last) % len(node)] = value
    elif isinstance(node, dict):
        node[last] = value


@pytest.fixture(scope="module")
def fuzz_study(repo_root: Path, tmp_path_factory) -> Path:
    """One study folder reused by every example (each example rewrites its two text files)."""
    target = tmp_path_factory.mktemp("fuzz") / "study"
    shutil.copytree(repo_root / "example_data" / "elisa", target / "elisa")
    (target / "fcs").symlink_to(repo_root / "example_data" / "fcs")
    return target


@given(edits=st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), min_size=1, max_size=3),
       cells=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 16), st.sampled_from(SHEET_TOKENS)), max_size=4),
       sheet_delimiter=st.sampled_from((",", ",", ";", "\t")))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_manifest_and_samplesheet_mutations_give_problems_never_crashes(repo_root, fuzz_study, edits, cells,
                                                                         sheet_delimiter):
    manifest = yaml.safe_load((repo_root / "example_data" / "experiment.yaml").read_text())
    for field, value in edits:
        _set(manifest, field, value)
    (fuzz_study / "experiment.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True))
    rows = [line.split(",") for line in (repo_root / "example_data" / "samplesheet.csv").read_text().splitlines()]
    for row, column, token in cells:
        rows[row % len(rows)][column % len(rows[0])] = token
    (fuzz_study / "samplesheet.csv").write_text("\n".join(sheet_delimiter.join(r) for r in rows) + "\n")
    started = time.monotonic()
    problems = validate_experiment(fuzz_study / "experiment.yaml", read_channels=lambda p: {})
    assert time.monotonic() - started < hs.READ_SECONDS
    assert all(isinstance(p, MsclabError) and str(p).strip() for p in problems)
    assert all(("experiment.yaml" in str(p) or "samplesheet" in str(p) or ".csv" in str(p) or ".fcs" in str(p))
               for p in problems), [str(p) for p in problems]

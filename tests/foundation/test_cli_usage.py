"""The command line says exactly what happened: bad options and usage mistakes exit 2 before any work.

Each case runs ``python -m msclab`` in a subprocess and checks the exit code,
the message and that no traceback or "bug in msclab" reaches the user.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from msclab.errors import MsclabError
from msclab.pipeline import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_data" / "experiment.yaml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "msclab", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def assert_usage(result: subprocess.CompletedProcess, *needles: str) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text and "bug in msclab" not in text, text
    for needle in needles:
        assert needle in text, text


@pytest.mark.parametrize(("command", "option", "value", "allowed"), [
    ("analyze", "--curve-model", "3pl", "'4pl', '5pl'"),
    ("analyze", "--weighting", "1/x", "'none', '1/y', '1/y^2'"),
    ("analyze", "--n-boot", "10", "100"),
    ("batch", "--curve-model", "3pl", "'4pl', '5pl'"),
    ("batch", "--seed", "-1", "0"),
])
def test_bad_option_value_exits_2_naming_the_allowed_values(tmp_path, command, option, value, allowed):
    result = run(command, str(EXAMPLE), "-o", str(tmp_path / "out"), option, value)
    assert_usage(result, option, allowed)
    assert not (tmp_path / "out").exists(), "work started before the options were checked"


def test_help_lists_choices_flags_and_paths():
    text = run("analyze", "--help").stdout
    assert "4pl|5pl" in text and "none|1/y|1/y^2" in text
    assert "--no-plots" in text and "<bool>" not in text and "list[Path]" not in text
    batch = run("batch", "run", "--help").stdout
    assert "PATH..." in batch and "list[Path]" not in batch and "<bool>" not in batch


@pytest.mark.parametrize("options", [["--workers", "2", "--serial"], ["--scheduler", "tcp://x:1", "--serial"],
                                     ["--quiet", "--jsonl"]])
def test_contradictory_batch_options_are_refused(tmp_path, options):
    result = run("batch", str(EXAMPLE), "-o", str(tmp_path / "out"), *options)
    assert_usage(result, "cannot be combined")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["analyse", "x"], "Did you mean 'analyze'?"),
    (["analyze", str(EXAMPLE)], "Missing option '-o'"),
    (["analyze", str(EXAMPLE), "-o", "x", "--plot"], "--plots"),
    (["analyze", str(EXAMPLE), "-o", str(EXAMPLE)], "is a file, not a folder"),
    (["batch"], "status"),
    (["fcs"], "info"),
    (["catalogue"], "show"),
    (["assay"], "fit"),
])
def test_usage_mistakes_exit_2_not_3(args, needle):
    assert_usage(run(*args), needle)


def test_settings_refuse_bad_values_naming_the_allowed_ones():
    with pytest.raises(MsclabError, match="curve_model='3pl'.*4pl, 5pl"):
        Settings(curve_model="3pl")
    with pytest.raises(MsclabError, match="weighting='1/x'.*none, 1/y, 1/y\\^2"):
        Settings(weighting="1/x")
    with pytest.raises(MsclabError, match="n_boot"):
        Settings(n_boot=10)
    with pytest.raises(MsclabError, match="unknown setting 'curve'"):
        Settings(curve="4pl")
    assert Settings(curve_model="4pl").model_dump() == {"curve_model": "4pl", "weighting": "1/y^2", "n_boot": 2000,
                                                        "seed": 0, "plots": True, "discovery": False}


def test_validate_finds_the_folders_experiment_yaml():
    result = run("validate", str(EXAMPLE.parent))
    assert result.returncode == 0, result.stderr
    assert "experiment.yaml is valid" in result.stdout


def test_errors_to_a_pipe_are_not_wrapped(tmp_path):
    deep = tmp_path / ("a_rather_long_folder_name_for_the_wrapping_check_" * 2) / "some_experiment_file.yaml"
    result = run("validate", str(deep))
    assert result.returncode == 2
    assert str(deep) in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(str(deep) in line for line in lines), result.stderr  # heading + one problem


@pytest.mark.parametrize(("args", "code", "printed"), [(["--version"], 0, "msclab "), (["analyze", "--bogus"], 2, "")])
def test_the_quick_exit_keeps_the_exit_code_the_output_and_the_exit_handlers(args, code, printed):
    """``main`` ends the process without the interpreter's teardown: the code, buffered output and handlers stay."""
    script = ("import atexit, sys\n"
              "atexit.register(print, 'exit handler ran')\n"
              "from msclab.cli import main\n"
              f"sys.argv = ['msclab', *{args!r}]\n"
              "main()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr
    assert result.stdout.startswith(printed) and result.stdout.endswith("exit handler ran\n"), result.stdout

"""The public API (docs/api.md): the names exist, are reachable as attributes, and load lazily."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest

import msclab

PUBLIC = {
    "msclab": ["analyze", "read_experiment", "Experiment", "MsclabError", "Settings", "AnalysisResult",
               "__version__", "io", "flow", "assay", "pl", "pipeline", "experiment", "stats", "compare"],
    "msclab.io": ["read_fcs", "open_fcs", "read_assay", "FCSFile", "AssayExport", "READERS"],
    "msclab.flow": ["gate", "quantify_panel", "load_protocol", "read_strategy"],
    "msclab.assay": ["fit_curve", "quantify", "read_assay", "CurveFit", "AssayResult"],
    "msclab.pl": ["curve", "gate", "gates", "forest"],
}

#: Heavy libraries that neither ``import msclab`` nor ``msclab --version``/``--help`` may load.
HEAVY = ("anndata", "dask", "statsmodels", "scanpy", "matplotlib", "sklearn")


@pytest.mark.parametrize("module", list(PUBLIC))
def test_public_names_exist(module):
    package = msclab
    for part in module.split(".")[1:]:
        package = getattr(package, part)
    for name in PUBLIC[module]:
        assert hasattr(package, name), f"{module}.{name}"
        if name != "__version__":
            assert name in dir(package), f"{module}.{name} missing from dir()"


def test_public_functions_are_the_documented_ones():
    assert msclab.assay.quantify.__module__ == "msclab.assay.quantification"
    assert callable(msclab.assay.quantify) and callable(msclab.flow.gate)
    importlib.import_module("msclab.assay.quantification")  # a submodule import must not hide the function
    assert callable(msclab.assay.quantify)
    for plot in PUBLIC["msclab.pl"][:2]:
        assert "ax" in inspect.signature(getattr(msclab.pl, plot)).parameters
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        msclab.nope  # noqa: B018


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = code + f"\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_import_msclab_loads_no_heavy_library():
    assert _loaded_after("import msclab, msclab.io, msclab.flow, msclab.assay, msclab.pl") == []


@pytest.mark.parametrize("option", ["--version", "--help"])
def test_cli_version_and_help_load_no_heavy_library(option):
    code = ("import contextlib, io, sys\n"
            "from msclab.cli import app\n"
            f"with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    app([{option!r}])\n")
    assert _loaded_after(code) == []


def test_plots_do_not_switch_the_backend():
    code = ("import matplotlib; matplotlib.use('pdf'); import msclab.flow.plots, msclab.assay.plots, "
            "msclab.report.forest, msclab.pl; msclab.pl.curve; import matplotlib as m; print(m.get_backend())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().lower() == "pdf"


def test_cli_summaries_match_each_commands_own_help():
    """``msclab --help`` lists COMMANDS without importing them; each line is the command's own first line."""
    from msclab.cli import COMMANDS, load_command

    for name, (_, summary) in COMMANDS.items():
        command = load_command(name)
        first = " ".join((command.short_help or command.help or "").split("\n\n")[0].split())
        assert first == summary, name

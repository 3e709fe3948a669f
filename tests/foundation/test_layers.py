"""The import contracts of pyproject.toml ([tool.importlinter], docs/architecture.md) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))"


def _lint(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _LINT, str(config)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_layer_contracts_are_kept(repo_root):
    run = _lint(repo_root / "pyproject.toml", repo_root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_checker_sees_a_real_upward_import(repo_root, tmp_path):
    """The same checker fails a contract that the code breaks (stats reads normalise.controls)."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "msclab"\n\n'
        '[[tool.importlinter.contracts]]\nname = "stats may not import normalise"\ntype = "forbidden"\n'
        'source_modules = ["msclab.stats"]\nforbidden_modules = ["msclab.normalise"]\n'
    )
    run = _lint(config, repo_root)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "msclab.stats.effects -> msclab.normalise" in run.stdout

"""The README's quick start holds exactly two commands, and CI runs the second one."""

from __future__ import annotations

import re


def _commands(readme: str) -> list[str]:
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_has_two_commands_and_ci_runs_the_test_one(repo_root):
    commands = _commands((repo_root / "README.md").read_text())
    assert len(commands) == 2
    assert "msclab analyze example_data/experiment.yaml" in commands[0]
    assert "pytest" in commands[1]
    assert commands[1] in (repo_root / ".ci" / "run").read_text()
    assert (repo_root / "example_data" / "experiment.yaml").is_file()

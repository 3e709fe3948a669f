"""docs/tutorial.md runs from top to bottom (its python blocks, in order, from the repository root)."""

from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.slow


def test_tutorial_runs(repo_root, tmp_path):
    text = (repo_root / "docs" / "tutorial.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(repo_root)
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"docs/tutorial.md block {i + 1}", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    assert namespace["comparison"].summary
    assert not (repo_root / "tutorial_output").exists()

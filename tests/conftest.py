"""Shared fixtures (where the public test files are) and the Hypothesis profiles.

The default profile ``repeatable`` derandomises Hypothesis: every run tries the
same examples, so the suite (and CI) passes or fails the same way on the same
code. ``HYPOTHESIS_PROFILE=explore`` draws new random examples each run, to
look for new findings (see ``docs/guarantees.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

REPO = Path(__file__).resolve().parents[1]
#: The real public test files, in the repository (``tests/data``, sources and licences in
#: ``tests/data/SOURCES.md``); ``MSCLAB_SHARED_DATA`` points the tests at another copy.
SHARED_DATA = Path(os.environ.get("MSCLAB_SHARED_DATA", REPO / "tests" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public test files (``tests/data``, part of the repository).

    Its absence is a failure, never a skip: every real-data test runs on a plain clone.
    """
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (tests/data is part of the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO

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
SHARED_DATA = Path(os.environ.get("MSCLAB_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public test files (``../shared/data``).

    Skipped when absent on a developer machine; in CI (``CI=true``) its absence
    is a failure, so real-data tests can never be skipped silently there.
    """
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared test data not found at {SHARED_DATA}")
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO

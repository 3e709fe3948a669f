"""The analysis tables stay byte-identical to the reference tables of the code before the
flow-path refactoring (results change only where a bug is fixed, and then the reference
is regenerated in the same commit with the reason in its message)."""

from __future__ import annotations

import hashlib
from pathlib import Path


from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
EXAMPLE = Path(__file__).resolve().parents[2] / "example_data"
TABLES = ("populations", "readouts", "effects", "concentrations", "comparison")


def test_simulated_study_tables_are_byte_identical(tmp_path: Path) -> None:
    """`msclab simulate --donors 3 --events 2000 --seed 1` analysed with --n-boot 200."""
    simulate_study(tmp_path / "study", StudyDesign(donors=3, events=2000, seed=1))
    out = tmp_path / "out"
    analyze(tmp_path / "study" / "experiment.yaml", out, Settings(n_boot=200, plots=False))
    for table in TABLES:
        expected = (GOLDEN / "simulate_d3_e2000_s1" / f"{table}.csv").read_bytes()
        assert (out / f"{table}.csv").read_bytes() == expected, table


def test_example_data_tables_match_reference_hashes(tmp_path: Path) -> None:
    """`msclab analyze example_data/experiment.yaml --no-plots` with default settings."""
    analyze(EXAMPLE / "experiment.yaml", tmp_path, Settings(plots=False))
    for line in (GOLDEN / "example_data.sha256").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name

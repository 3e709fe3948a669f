"""The analysis tables stay equal to the reference tables of the code before the flow-path
refactoring (results change only where a bug is fixed, and then the reference is regenerated
in the same commit with the reason in its message).

Text columns and the table layout must match exactly; numbers to a relative 1e-9 (and an absolute
1e-12 of the column's largest value, for values that are 0 in exact arithmetic). Not byte
for byte: the last digits of a float depend on the machine (the SIMD width numpy and the BLAS
choose for sums and products, measured: tables written on two machines of the same commit
differed only beyond the 12th significant digit, in readouts, effects, concentrations and
comparison), and a reference must hold on any machine the tests run on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from msclab.pipeline import Settings, analyze
from msclab.simulate import StudyDesign, simulate_study

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
EXAMPLE = Path(__file__).resolve().parents[2] / "example_data"
TABLES = ("populations", "readouts", "effects", "concentrations", "comparison")
#: Relative tolerance of numbers (floating-point noise is about 1e-15; a changed result is far larger).
RTOL = 1e-9


def assert_table_equal(written: Path, reference: Path) -> None:
    """Same columns, rows and text; numbers equal to :data:`RTOL` (NaN where the reference has NaN)."""
    got, want = pd.read_csv(written), pd.read_csv(reference)
    assert list(got.columns) == list(want.columns), written.name
    assert got.shape == want.shape, (written.name, got.shape, want.shape)
    for column in want.columns:
        a, b = got[column], want[column]
        if a.dtype.kind in "fiu" and b.dtype.kind in "fiu":
            want_values = b.to_numpy(float)
            # A value that is 0 in exact arithmetic (the SD of equal replicates) comes out as 0 or as
            # rounding noise of the column's magnitude: absolute noise below 1e-12 of the column's largest.
            scale = float(np.nanmax(np.abs(want_values), initial=0.0))
            np.testing.assert_allclose(a.to_numpy(float), want_values, rtol=RTOL, atol=1e-12 * scale,
                                       equal_nan=True, err_msg=f"{written.name}: {column}")
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), (written.name, column)


def test_simulated_study_tables_are_unchanged(tmp_path: Path) -> None:
    """`msclab simulate --donors 3 --events 2000 --seed 1` analysed with --n-boot 200."""
    simulate_study(tmp_path / "study", StudyDesign(donors=3, events=2000, seed=1))
    out = tmp_path / "out"
    analyze(tmp_path / "study" / "experiment.yaml", out, Settings(n_boot=200, plots=False))
    for table in TABLES:
        assert_table_equal(out / f"{table}.csv", GOLDEN / "simulate_d3_e2000_s1" / f"{table}.csv")


def test_example_data_tables_are_unchanged(tmp_path: Path) -> None:
    """`msclab analyze example_data/experiment.yaml --no-plots` with default settings."""
    analyze(EXAMPLE / "experiment.yaml", tmp_path, Settings(plots=False))
    for table in TABLES:
        assert_table_equal(tmp_path / f"{table}.csv", GOLDEN / "example_data" / f"{table}.csv")


def test_a_changed_number_is_caught(tmp_path: Path) -> None:
    """The comparison is not blind: a change in the 7th significant digit fails it."""
    reference = GOLDEN / "simulate_d3_e2000_s1" / "populations.csv"
    table = pd.read_csv(reference)
    column = next(c for c in table.columns if table[c].dtype.kind == "f")
    table.loc[0, column] = float(table.loc[0, column]) * (1 + 1e-6) + 1e-6
    table.to_csv(tmp_path / "populations.csv", index=False)
    try:
        assert_table_equal(tmp_path / "populations.csv", reference)
    except AssertionError:
        return
    raise AssertionError("a changed number passed the comparison")

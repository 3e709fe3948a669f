"""``msclab plan``: options validated before any work, outputs as the contract says."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from msclab.cli import app
from msclab.plan import PLAN_COLUMNS

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--donors", "1..4"], "between 2 and 200"),
        (["--donors", "three"], "3..12"),
        (["--events", "50"], "at least 100"),
        (["--ratios", "10"], "1:10"),
        (["--replicates", "0"], "between 1 and 20"),
        (["--n-sim", "5"], "between 10"),
        (["--rule", "vote"], "estimate"),
        (["--effect", "nonsense"], "ifng"),
        (["--context", "mouse"], "in_vitro_human"),
        (["--from", "/nonexistent/analysis"], "analyze"),
    ],
)
def test_bad_options_exit_2_before_work(tmp_path, args, words):
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    assert words in result.output.replace("\n", " ")
    assert not out.exists()


def test_plan_writes_csv_and_html(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", "-o", str(out), "--donors", "3,6", "--events", "4000", "--n-sim", "200",
                                 "--effect", "ifng", "--effect", "treg_frequency", "--ratios", "1:10"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "plan.csv")
    assert tuple(table.columns) == PLAN_COLUMNS
    assert len(table) == 4 and set(table["n_sim"]) == {200}
    page = (out / "plan.html").read_text()
    assert "<svg" in page and "Recommendation" in page and "msc_catalogue.md" in page
    assert "80% power" in result.output


def test_python_api_returns_the_same_table(tmp_path):
    import msclab

    args = dict(donors=(3, 6), events=(4000,), n_sim=200, effects=("ifng",), ratios=("1:10",))
    table = msclab.plan(**args)
    runner.invoke(app, ["plan", "-o", str(tmp_path), "--donors", "3,6", "--events", "4000", "--n-sim", "200",
                        "--effect", "ifng", "--ratios", "1:10"])
    pd.testing.assert_frame_equal(table.reset_index(drop=True), pd.read_csv(tmp_path / "plan.csv"), check_dtype=False)

"""``msclab gate`` end to end: outputs, exit codes, failures listed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from msclab.cli import app

pytestmark = pytest.mark.shared_data
runner = CliRunner()


def test_gatingml_strategy_with_events(shared_data: Path, tmp_path: Path) -> None:
    fcs = shared_data / "gatingml2_compliance/data1.fcs"
    xml = shared_data / "gatingml2_compliance/gml/gml_parent_quadrant_rect_gate.xml"
    result = runner.invoke(app, ["gate", str(fcs), "--strategy", str(xml), "-o", str(tmp_path), "--events"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "populations.csv")
    assert list(table.columns[:6]) == ["sample_id", "population", "parent", "gate_id", "gate_type", "count"]
    row = table.set_index("population").loc["/FL2P-FL4P/ParRectangle1"]
    assert row["count"] == 3 and row["parent"] == "/FL2P-FL4P"  # Results_ParQuadRect.txt has 3 events
    assert table.set_index("gate_id").loc["FL2N-FL4N", "count"] == 5148
    members = pd.read_parquet(tmp_path / "events" / "data1.fcs.parquet")
    truth = pd.read_csv(shared_data / "gatingml2_compliance/truth/Results_FL2P-FL4N.txt", header=None, dtype=bool)[0]
    assert (members["FL2P-FL4N"].to_numpy() == truth.to_numpy()).all()
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["command"] == "gate" and any(i["role"] == "fcs" for i in prov["inputs"])


def test_workspace_with_a_bad_sample_exits_1(shared_data: Path, tmp_path: Path) -> None:
    good = shared_data / "flowjo_workspaces/flowsom_68983/68983.fcs"
    wsp = shared_data / "flowjo_workspaces/flowsom_68983/gating.wsp"
    result = runner.invoke(app, ["gate", str(good), str(tmp_path / "missing.fcs"), "-s", str(wsp), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    table = pd.read_csv(tmp_path / "o/populations.csv")
    assert set(table.sample_id) == {"68983.fcs"}
    cd8 = table[table.population.str.endswith("/CD8 T cells")].iloc[0]
    assert cd8["count"] == cd8["flowjo_count"] == 1407
    failed = pd.read_csv(tmp_path / "o/failed_samples.csv")
    assert failed.sample_id.tolist() == ["missing.fcs"]


@pytest.mark.parametrize("name, content, message", [
    ("p.yaml", "gates: []\n", "not a valid msclab protocol"),
    ("x.xml", "<other/>", "not a GatingML 2.0 file or a FlowJo workspace"),
])
def test_bad_strategy_is_refused(shared_data: Path, tmp_path: Path, name: str, content: str, message: str) -> None:
    strategy = tmp_path / name
    strategy.write_text(content)
    fcs = shared_data / "gatingml2_compliance/data1.fcs"
    result = runner.invoke(app, ["gate", str(fcs), "-s", str(strategy), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o" / "populations.csv").exists()

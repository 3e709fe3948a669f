"""``msclab catalogue list`` and ``msclab catalogue show``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from msclab.cli import app

runner = CliRunner()


def test_list_shows_every_entry() -> None:
    result = runner.invoke(app, ["catalogue", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "64 entries" in result.output and "treg_frequency" in result.output


def test_list_json_by_category() -> None:
    result = runner.invoke(app, ["catalogue", "list", "--category", "nk_cell", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == ["nk_proliferation", "nk_cytotoxicity", "nk_activating_receptors", "nk_ifng"]
    assert rows[0]["contexts"]["in_vitro_human"] == "down"


def test_show_treg_frequency_with_citations() -> None:
    result = runner.invoke(app, ["catalogue", "show", "treg_frequency"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "in_vitro_human: up (moderate)" in result.output
    assert "[English2009]" in result.output
    selmani = [line for line in result.output.splitlines() if "[Selmani2008]" in line]
    assert selmani and selmani[0].rstrip().endswith("[unverified]")


def test_show_json() -> None:
    result = runner.invoke(app, ["catalogue", "show", "il17a", "--json"])
    data = json.loads(result.output)
    assert data["contexts"]["in_vitro_mouse"]["direction"] == "up"
    assert data["citations"]["Ghannam2010"].endswith("[unverified]")


def test_unknown_id_exits_2_with_a_hint() -> None:
    result = runner.invoke(app, ["catalogue", "show", "treg_freq"])
    assert result.exit_code == 2
    assert "treg_frequency" in result.output and "Traceback" not in result.output

"""Plate layouts: reading, applying, and the standard checks."""

from __future__ import annotations

import pytest

from msclab.errors import AssayFileError
from msclab.io.assay import read_assay
from msclab.io.layout import classify_sample, read_layout

HEADER = "," + ",".join(str(c) for c in range(1, 13))


def plate_csv(path, name="p1"):
    rows = ["Plate," + name, "Analyte,IL-6", HEADER]
    rows += [",".join([letter] + [str(0.1 * (i + 1))] * 12) for i, letter in enumerate("ABCDEFGH")]
    path.write_text("\n".join(rows) + "\n")
    return path


def layout_csv(path, column1, extra=(), header=("Top concentration,1000", "Dilution factor,2")):
    """Column 1 holds column1[r]; columns 2-12 hold sample ids S-<row><col>."""
    rows = [*header, HEADER]
    for r, letter in enumerate("ABCDEFGH"):
        rows.append(",".join([letter, column1[r]] + [f"D{r}-{c}" for c in range(2, 13)]))
    path.write_text("\n".join([*rows, "", *extra]) + "\n")
    return path


STANDARDS = ["STD1", "STD2", "STD3", "STD4", "STD5", "STD6", "STD7", "BLK"]


def test_levels_with_top_concentration_and_factor(tmp_path):
    layout = layout_csv(tmp_path / "layout.csv", STANDARDS)
    export = read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout)
    table = export.table.set_index("well")
    assert table.at["A1", "sample_type"] == "standard" and table.at["A1", "expected_concentration"] == 1000
    assert table.at["C1", "expected_concentration"] == 250 and table.at["C1", "level"] == "STD3"
    assert table.at["G1", "expected_concentration"] == pytest.approx(1000 / 64)
    assert table.at["H1", "sample_type"] == "blank"
    assert table.at["B5", "sample_type"] == "unknown" and table.at["B5", "sample_id"] == "D1-5"
    assert any("layout" in n for n in export.leniencies)


def test_dilution_and_concentration_grids(tmp_path):
    dilution = ["dilution" + HEADER] + [",".join([letter] + ["1/10"] * 12) for letter in "ABCDEFGH"]
    layout = layout_csv(tmp_path / "layout.csv", ["S", "S", "S", "S", "C1", "QC1", "-", "B"],
                        extra=["concentration" + HEADER, "A,800", "B,400", "C,200", "D,100",
                               *[f"{letter}," for letter in "EFGH"], "", *dilution], header=())
    table = read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout).table.set_index("well")
    assert list(table.loc[["A1", "B1", "C1", "D1"], "expected_concentration"]) == [800, 400, 200, 100]
    assert table.at["E1", "sample_type"] == "control" and table.at["F1", "sample_type"] == "qc"
    assert table.at["B7", "dilution"] == 10


def test_irregular_series_names_the_well(tmp_path):
    layout = layout_csv(tmp_path / "layout.csv", ["S", "S", "S", "S", "S", "-", "-", "B"], header=(),
                        extra=["concentration" + HEADER, "A,1000", "B,500", "C,250", "D,25", "E,12.5",
                               *[f"{letter}," for letter in "FGH"]])
    with pytest.raises(AssayFileError, match="not a constant dilution") as error:
        read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout)
    assert error.value.where == "well D1" and "250 -> 25" in error.value.message
    table = read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout, check_series=False).table
    assert (table["sample_type"] == "standard").sum() == 5


def test_layout_without_standards(tmp_path):
    layout = layout_csv(tmp_path / "layout.csv", ["X"] * 8)
    with pytest.raises(AssayFileError, match="plate p1 has no standard wells for IL-6") as error:
        read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout)
    assert error.value.where == "plate p1"


def test_standard_without_concentration(tmp_path):
    layout = layout_csv(tmp_path / "layout.csv", STANDARDS, header=())
    with pytest.raises(AssayFileError, match="standard well without a concentration") as error:
        read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout)
    assert error.value.where == "well A1"


def test_per_analyte_top_concentration_and_unknown_analyte(tmp_path):
    good = layout_csv(tmp_path / "good.csv", STANDARDS, header=("Top concentration,IL-6,500", "Dilution factor,3"))
    table = read_assay(plate_csv(tmp_path / "plate.csv"), layout=good).table.set_index("well")
    assert table.at["B1", "expected_concentration"] == pytest.approx(500 / 3)
    bad = layout_csv(tmp_path / "bad.csv", STANDARDS, header=("Top concentration,IL6,500", "Dilution factor,3"))
    with pytest.raises(AssayFileError, match="unknown analyte 'IL6'") as error:
        read_assay(plate_csv(tmp_path / "plate.csv"), layout=bad)
    assert "IL-6" in error.value.hint


def test_layout_for_another_plate(tmp_path):
    layout = layout_csv(tmp_path / "layout.csv", STANDARDS, header=("Plate,p9", "Top concentration,10",
                                                                    "Dilution factor,2"))
    with pytest.raises(AssayFileError, match="plate 'p9'"):
        read_assay(plate_csv(tmp_path / "plate.csv"), layout=layout)


def test_layout_file_errors(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("Colour,blue\n" + HEADER + "\n")
    with pytest.raises(AssayFileError, match="unknown layout line 'Colour'") as error:
        read_layout(path)
    assert error.value.where == "line 1"
    path.write_text("Top concentration,lots\n")
    with pytest.raises(AssayFileError, match="not a non-negative number"):
        read_layout(path)
    path.write_text("Unit,pg/mL\n")
    with pytest.raises(AssayFileError, match="no plate grid"):
        read_layout(path)
    layout_csv(path, STANDARDS, header=(), extra=["colour" + HEADER] + [f"{x}," for x in "ABCDEFGH"])
    with pytest.raises(AssayFileError, match="unknown layout grid 'colour'"):
        read_layout(path)


@pytest.mark.parametrize(("name", "kind"), [
    ("Standard3", "standard"), ("S1", "standard"), ("STD2", "standard"), ("Background0", "blank"),
    ("B", "blank"), ("BLK", "blank"), ("Control1", "control"), ("C2", "control"), ("QC1", "qc"),
    ("Unknown7", "unknown"), ("D3-MSC", "unknown"), ("1/50", "standard"),
])
def test_classify_sample(name, kind):
    assert classify_sample(name)["sample_type"] == kind
    assert classify_sample("") == {}


def test_long_layout_as_the_simulator_writes_it(tmp_path):
    plate_csv(tmp_path / "plate.csv", name="ifng_plate1")
    rows = ["plate,well,sample_type,sample_id,level,expected_concentration,dilution"]
    rows += [f"ifng_plate1,{letter}1,standard,,S{i + 1},{1000 / 2 ** i},1.0" for i, letter in enumerate("ABCDEFG")]
    rows += ["ifng_plate1,H1,blank,,,0.0,1.0", "ifng_plate1,A3,unknown,D1_pbmc,,,10.0",
             "other_plate,A3,unknown,D9_x,,,2.0"]
    (tmp_path / "long.csv").write_text("\n".join(rows) + "\n")
    table = read_assay(tmp_path / "plate.csv", layout=tmp_path / "long.csv").table.set_index("well")
    assert table.at["C1", "expected_concentration"] == 250 and table.at["C1", "level"] == "S3"
    assert table.at["A3", "sample_id"] == "D1_pbmc" and table.at["A3", "dilution"] == 10
    assert table.at["H1", "sample_type"] == "blank"
    (tmp_path / "dup.csv").write_text("\n".join([rows[0], rows[1], rows[1]]) + "\n")
    with pytest.raises(AssayFileError, match="well A1 is listed twice") as error:
        read_layout(tmp_path / "dup.csv")
    assert error.value.where == "line 3"

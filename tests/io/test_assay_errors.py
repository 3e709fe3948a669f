"""Messy and broken exports give one clear AssayFileError (file, place, hint), never a traceback."""

from __future__ import annotations

import openpyxl
import pytest

from msclab.errors import AssayFileError
from msclab.io.assay import read_assay
from msclab.io.bioplex import read_bioplex
from msclab.io.layout import check_standards
from msclab.io.luminex import read_xponent
from msclab.io.plate_reader import read_gen5, read_grid

GRID_HEADER = "," + ",".join(str(c) for c in range(1, 13))


def grid(delimiter=","):
    rows = [GRID_HEADER.replace(",", delimiter)]
    rows += [delimiter.join([letter] + ["0.1"] * 12) for letter in "ABCDEFGH"]
    return "\n".join(rows) + "\n"


def xponent(sections, delimiter=",", location='"{i}(1,{w})"'):
    """A small xPONENT export with the given per-well sections (name -> values for IL6, IL10)."""
    rows = [["Program", "xPONENT", "", "FLEXMAP 3D"], ["Build", "4.3"], ["Batch", "batchA"], [], ["Results"], []]
    for name, values in sections.items():
        rows += [['"DataType:"', f'"{name}"'], ["Location", "Sample", "IL6", "IL10", "Total Events"]]
        for i, (well, sample, a, b) in enumerate(values, start=1):
            rows.append([location.format(i=i, w=well), sample, a, b, "100"])
        rows.append([])
    return "\n".join(delimiter.join(row) for row in rows) + "\n"


WELLS = [("A1", "Background0", "10", "12"), ("B1", "Standard1", "5000", "4000"), ("C1", "Unknown1", "300", "NaN")]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("  \n\n")
    with pytest.raises(AssayFileError, match="empty") as error:
        read_assay(path)
    assert error.value.file == path and error.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(AssayFileError, match="not found"):
        read_assay(tmp_path / "nope.csv")


def test_unknown_content_and_unknown_format_name(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Dear lab,\nplease find the results attached.\n")
    with pytest.raises(AssayFileError, match="unknown format") as error:
        read_assay(path)
    assert "Gen5" in error.value.hint
    with pytest.raises(AssayFileError, match="unknown format 'elisa'") as error:
        read_assay(path, format="elisa")
    assert "xponent" in error.value.hint


def test_wrong_delimiter_pipe(tmp_path):
    path = tmp_path / "pipe.csv"
    path.write_text(grid("|"))
    with pytest.raises(AssayFileError, match="no comma, semicolon or tab") as error:
        read_grid(path)
    assert error.value.where == "line 1"


def test_decimal_commas_in_comma_file(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text(grid().replace("0.1", "0,1"))
    with pytest.raises(AssayFileError, match="row A has 24 values for 12 columns") as error:
        read_grid(path)
    assert error.value.where == "line 2" and "delimiter" in error.value.hint


def test_grid_missing_row(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("\n".join(grid().splitlines()[:6]) + "\n\n")
    with pytest.raises(AssayFileError, match="expected row F") as error:
        read_grid(path)
    assert error.value.where == "line 7"


def test_grid_duplicate_read(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("Read,450\n" + grid() + "\n" + grid())
    with pytest.raises(AssayFileError, match="read 450 twice"):
        read_grid(path)


def test_no_grid(tmp_path):
    path = tmp_path / "nogrid.csv"
    path.write_text("Plate,p1\nRead,450\n")
    with pytest.raises(AssayFileError, match="no plate grid"):
        read_grid(path)


def test_gen5_without_results_section(tmp_path):
    path = tmp_path / "gen5.txt"
    path.write_text("Software Version\t3.12\r\nPlate Number\tPlate 1\r\nProcedure Details\r\n")
    with pytest.raises(AssayFileError, match="no 'Results' section"):
        read_assay(path)


def test_xponent_missing_signal_section(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(xponent({"Count": WELLS}))
    with pytest.raises(AssayFileError, match="missing section") as error:
        read_xponent(path)
    assert "Count" in error.value.hint


def test_xponent_wrong_delimiter(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(xponent({"Median": WELLS}, delimiter="|"))
    with pytest.raises(AssayFileError, match="unsupported delimiter"):
        read_xponent(path)


def test_xponent_semicolons_decimal_commas_cp1252(tmp_path):
    path = tmp_path / "x.csv"
    text = xponent({"Median": [("A1", "Background0", "10,5", "12"), ("B1", "Standard1", "5000", "4000")]},
                   delimiter=";", location="{i}(1,{w})")
    text += 'DataType:;Units\nAnalyte:;IL6;IL10\nUnits:;µg/mL;pg/mL\n'
    path.write_bytes(text.encode("cp1252"))
    export = read_assay(path)
    a1 = export.table[(export.table["well"] == "A1") & (export.table["analyte"] == "IL6")].iloc[0]
    assert a1["signal"] == 10.5
    assert export.metadata["units"]["IL6"] == "µg/mL"
    assert any("Windows-1252" in n for n in export.leniencies)
    assert any("semicolon" in n for n in export.leniencies)


def test_xponent_unquoted_locations_with_commas(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(xponent({"Median": WELLS}, location="{i}(1,{w})"))
    export = read_xponent(path)
    assert list(export.table["well"].unique()) == ["A1", "B1", "C1"]
    assert any("rejoined" in n for n in export.leniencies)


def test_xponent_bad_location(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(xponent({"Median": WELLS}, location='"{w}"'))
    with pytest.raises(AssayFileError, match="bad well location 'A1'"):
        read_xponent(path)


def test_unknown_analyte_names(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(xponent({"Median": WELLS}))
    with pytest.raises(AssayFileError, match="unknown analyte 'IL-6'") as error:
        read_assay(path, analytes=["IL-6"])
    assert "Did you mean 'IL6'" in error.value.hint and "IL10" in error.value.hint
    kept = read_assay(path, analytes=["IL10"]).table
    assert set(kept["analyte"]) == {"IL10"}


def test_plate_without_standards(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("Plate,P7\n" + grid())
    export = read_grid(path)
    with pytest.raises(AssayFileError, match="no well is marked as a standard"):
        check_standards(export)
    path.write_text(xponent({"Median": [("A1", "Unknown1", "1", "2")]}))
    with pytest.raises(AssayFileError, match="no standard wells for IL6") as error:
        check_standards(read_xponent(path))
    assert error.value.where == "plate batchA"


def test_bioplex_without_results_table(tmp_path):
    path = tmp_path / "bp.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["Row #", "Field", "VALUE"])
    workbook.save(path)
    with pytest.raises(AssayFileError, match="missing section"):
        read_bioplex(path)


def test_bioplex_oor_and_extrapolated(tmp_path):
    path = tmp_path / "bp.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "IL-6 (12)"
    sheet.append(["Plate ID: P1"])
    sheet.append([])
    sheet.append(["Analyte", "Type", "Well", "Outlier", "Description", "FI", "FI - Bkgd", "Std Dev", "%CV",
                  "Obs Conc", "Exp Conc", "(Obs/Exp) * 100", "Conc in Range", "Group", "Ratio", "Dilution"])
    sheet.append(["IL-6 (12)", "X1", "A1,B1", 0, "D1", 20.0, 10.0, 1, 1, "OOR <", None, None, "OOR <", None, None, 2])
    sheet.append(["IL-6 (12)", "X2", "C1", 0, "D2", 30000.0, 29990.0, 1, 1, "OOR >", None, None, None, None, None, 1])
    sheet.append(["IL-6 (12)", "X3", "D1", 0, "D3", 60.0, 50.0, 1, 1, "*2.5", None, None, None, None, None, 1])
    sheet.append(["IL-6 (12)", "X4", "E1", 0, "D4", "***", "***", None, None, "***", None, None, None, None, None, 1])
    workbook.save(path)
    table = read_assay(path).table.set_index("well")
    assert table.at["A1", "vendor_flag"].startswith("OOR <") and table.at["A1", "signal"] == 10
    assert table.at["A1", "dilution"] == 2 and table.at["A1", "plate"] == "P1"
    assert table.at["C1", "vendor_flag"] == "OOR >"
    assert table.at["D1", "vendor_concentration"] == 2.5 and table.at["D1", "vendor_flag"] == "*"
    assert table.at["E1", "vendor_flag"] == "***" and table["signal"].isna().sum() == 1


def test_old_xls_is_refused(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(AssayFileError, match=r"\.xls"):
        read_assay(path)


def test_damaged_xlsx(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_text("not a zip")
    with pytest.raises(AssayFileError, match="cannot open as an Excel workbook"):
        read_assay(path)


def test_gen5_bad_row_letter(tmp_path):
    path = tmp_path / "g.txt"
    lines = ["Software Version\t3.12", "Plate Number\tPlate 1", "Results",
             "\t" + "\t".join(str(c) for c in range(1, 13)),
             "Z\t" + "\t".join(["1"] * 12) + "\tabs450:450"]
    path.write_text("\r\n".join(lines) + "\r\n")
    with pytest.raises(AssayFileError, match="row letter") as error:
        read_gen5(path)
    assert error.value.where == "line 5"

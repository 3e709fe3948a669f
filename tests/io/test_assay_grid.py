"""The generic grid format (what the simulator writes) and crafted plate-reader files."""

from __future__ import annotations

import math

import openpyxl
import pytest

from msclab.errors import AssayFileError
from msclab.io.assay import read_assay
from msclab.io.plate_reader import read_grid, read_softmax

ROWS = "ABCDEFGH"


def grid_lines(value, delimiter=",", decimal="."):
    """An 8 x 12 grid whose well (r, c) holds value(r, c)."""
    lines = [delimiter + delimiter.join(str(c) for c in range(1, 13))]
    for r, letter in enumerate(ROWS):
        cells = [f"{value(r, c):.4f}".replace(".", decimal) for c in range(1, 13)]
        lines.append(delimiter.join([letter, *cells]))
    return lines


def od450(r, c):
    return 0.05 + r * 0.3 + c * 0.01


def od570(r, c):
    return 0.04 + c * 0.001


def test_simulator_grid_with_reference_read(tmp_path):
    path = tmp_path / "plate.csv"
    lines = ["Plate,plate1", "Analyte,IL-6", "Read,450", *grid_lines(od450), "", "Read,570", *grid_lines(od570)]
    path.write_text("\n".join(lines) + "\n")
    export = read_assay(path)
    assert export.format == "grid"
    table = export.table
    assert len(table) == 96 and set(table["read"]) == {"450-570"} and set(table["analyte"]) == {"IL-6"}
    b3 = table[table["well"] == "B3"].iloc[0]
    assert b3["plate"] == "plate1" and b3["wavelength"] == 450
    assert b3["signal"] == pytest.approx(round(od450(1, 3), 4) - round(od570(1, 3), 4))
    assert "570 nm subtracted" in export.leniencies[0]
    raw = read_grid(path, reference=None).table
    assert len(raw) == 192 and set(raw["read"]) == {"450", "570"}


def test_grid_declared_reference_and_two_plates_and_metadata(tmp_path):
    path = tmp_path / "two.csv"
    lines = ["Plate,p1", "Reference,630", "Operator,ann", "Read,450", *grid_lines(od450), "",
             "Read,630", *grid_lines(od570), "", "Read,540", *grid_lines(od570), "",
             "Plate,p2", "Read,450", *grid_lines(od450)]
    path.write_text("\n".join(lines))
    export = read_grid(path, analyte="TNF")
    table = export.table
    assert set(table["plate"]) == {"p1", "p2"}
    assert set(table.loc[table["plate"] == "p1", "read"]) == {"450-630", "540-630"}
    assert set(table.loc[table["plate"] == "p2", "read"]) == {"450"}
    assert export.metadata["plates"]["p1"]["Operator"] == "ann"
    assert set(table["analyte"]) == {"TNF"}


def test_grid_semicolons_decimal_commas_bom_and_tokens(tmp_path):
    path = tmp_path / "eu.csv"
    lines = grid_lines(od450, delimiter=";", decimal=",")
    lines[1] = lines[1].replace("0,0600", "OVRFLW", 1)
    path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode("utf-8"))
    export = read_grid(path)
    a1 = export.table[export.table["well"] == "A1"].iloc[0]
    assert math.isnan(a1["signal"]) and a1["vendor_flag"] == "OVRFLW"
    assert export.table[export.table["well"] == "A2"].iloc[0]["signal"] == pytest.approx(0.07)
    assert export.table["plate"].iloc[0] == "eu" and set(export.table["analyte"]) == {"unnamed"}
    assert any("byte-order mark" in n for n in export.leniencies)


def test_grid_384_xlsx(tmp_path):
    path = tmp_path / "p384.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Read", "450"])
    sheet.append([None, *range(1, 25)])
    for r, letter in enumerate("ABCDEFGHIJKLMNOP"):
        sheet.append([letter, *[r * 100 + c for c in range(1, 25)]])
    workbook.save(path)
    table = read_assay(path).table
    assert len(table) == 384
    assert table[table["well"] == "P24"].iloc[0]["signal"] == 1524


def softmax_text(export_format):
    wells = [f"{r}{c}" for r in ROWS for c in range(1, 13)]
    header = ("Plate:\tPlate1\t1.3\t" + export_format + "\tEndpoint\tAbsorbance\tRaw\tFALSE\t1\t\t\t\t\t\t2\t"
              "450 570 \t1\t12\t96\t1\t8\t\t")
    if export_format == "PlateFormat":
        columns = "\tTemperature(¡C)\t" + "\t".join(map(str, range(1, 13))) + "\t\t" \
            + "\t".join(map(str, range(1, 13))) + "\t\t"
        body = [columns]
        for r in range(8):
            temp = "25.1" if r == 0 else ""
            body.append("\t" + temp + "\t" + "\t".join(f"{od450(r, c):.4f}" for c in range(1, 13)) + "\t\t"
                        + "\t".join(f"{od570(r, c):.4f}" for c in range(1, 13)) + "\t\t")
    else:
        body = ["\tTemperature(¡C)\t" + "\t".join(wells),
                "\t25.1\t" + "\t".join(f"{od450(ROWS.index(w[0]), int(w[1:])):.4f}" for w in wells), "",
                "\t25.1\t" + "\t".join(f"{od570(ROWS.index(w[0]), int(w[1:])):.4f}" for w in wells)]
    group = ["Group: Standards", "Sample\tConcentration pg/mL\tWells\tValue\t", "01\t500\tA1\t1\t",
             " \t \tA2\t1\t", "02\t250\tB1\t1\t", "", "Group Column\tFormula Name\tFormula", "~End"]
    return "\r\n".join(["##BLOCKS= 2", header, *body, "~End", *group, "Original Filename: x"]) + "\r\n"


@pytest.mark.parametrize("export_format", ["PlateFormat", "TimeFormat"])
def test_softmax_utf16_raw_reference_subtraction(tmp_path, export_format):
    path = tmp_path / "smp.txt"
    path.write_bytes(softmax_text(export_format).encode("utf-16"))
    export = read_assay(path)
    assert export.format == "softmax_pro"
    table = export.table
    assert len(table) == 96 and set(table["read"]) == {"450-570"}
    c5 = table[table["well"] == "C5"].iloc[0]
    assert c5["signal"] == pytest.approx(round(od450(2, 5), 4) - round(od570(2, 5), 4))
    a2 = table[table["well"] == "A2"].iloc[0]
    assert a2["sample_type"] == "standard" and a2["expected_concentration"] == 500
    raw = read_softmax(path, reference=None).table
    assert len(raw) == 192


def test_softmax_kinetic_is_refused(tmp_path):
    path = tmp_path / "kin.txt"
    path.write_text(softmax_text("PlateFormat").replace("\tEndpoint\t", "\tKinetic\t"), encoding="utf-16")
    with pytest.raises(AssayFileError, match="only endpoint"):
        read_softmax(path)


def test_reference_wavelength_not_in_file(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("\n".join(["Read,450", *grid_lines(od450)]))
    with pytest.raises(AssayFileError, match="reference wavelength 620"):
        read_grid(path, reference=620)

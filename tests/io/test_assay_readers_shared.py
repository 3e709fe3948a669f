"""The assay readers on the real public exports in ../shared/data/assay_exports.

Expected numbers were read off the raw files by eye (line/cell quoted in each test).
"""

from __future__ import annotations

import math

import pytest

from msclab.errors import AssayFileError
from msclab.io.assay import detect_format, read_assay
from msclab.io.bioplex import read_bioplex
from msclab.io.layout import apply_layout, check_standards, read_layout
from msclab.io.luminex import read_xponent
from msclab.io.plate_reader import read_bmg, read_gen5, read_softmax, read_tecan

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def exports(shared_data):
    return shared_data / "assay_exports"


def _cell(table, well, analyte=None, **where):
    rows = table[table["well"] == well]
    if analyte is not None:
        rows = rows[rows["analyte"] == analyte]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.mark.parametrize(("folder", "expected"), [
    ("gen5", "gen5"), ("softmax_pro", "softmax_pro"), ("tecan_magellan", "tecan_magellan"),
    ("bmg_mars", "bmg_mars"), ("luminex_xponent", "xponent"), ("bioplex_manager", "bioplex"),
    ("plate_layout", "grid"),
])
def test_every_real_export_is_recognised(exports, folder, expected):
    for path in sorted((exports / folder).iterdir()):
        assert detect_format(path) == expected


def test_gen5_ovrflw_and_missed(exports):
    export = read_gen5(exports / "gen5" / "gen5_abs450_96well_ovrflw_missed.txt")
    table = export.table
    assert len(table) == 96 and set(table["wavelength"]) == {450.0}
    assert _cell(table, "A1")["signal"] == pytest.approx(2.100)
    assert _cell(table, "H12")["signal"] == pytest.approx(2.500)
    ovrflw = _cell(table, "A8")  # line "A ... 2.270 OVRFLW 2.320"
    assert math.isnan(ovrflw["signal"]) and ovrflw["vendor_flag"] == "OVRFLW"
    assert (table["vendor_flag"] == "OVRFLW").sum() == 8
    assert (table["vendor_flag"] == "MISSED").sum() == 5
    assert _cell(table, "D12")["vendor_flag"] == "MISSED"
    assert export.metadata["plates"]["Plate 1"]["Reader Type"] == "Synergy H1"


def test_gen5_layout_block_and_concentrations(exports):
    table = read_gen5(exports / "gen5" / "gen5_endpoint_stdcurve_layout_singleplate.txt").table
    assert len(table) == 96
    a1 = _cell(table, "A1")
    assert a1["sample_type"] == "standard" and a1["level"] == "STD1"
    assert a1["expected_concentration"] == 2000 and a1["signal"] == pytest.approx(3.337)
    assert a1["vendor_concentration"] == pytest.approx(1980.423)
    assert _cell(table, "G3")["expected_concentration"] == pytest.approx(2.7435)
    assert _cell(table, "H1")["sample_type"] == "blank"
    b4 = _cell(table, "B4")  # SPL1:2 with Conc/Dil 0.5
    assert b4["sample_id"] == "SPL1" and b4["dilution"] == 2
    assert (table["sample_type"] == "standard").sum() == 21


def test_softmax_reduced_export_with_groups(exports):
    export = read_softmax(exports / "softmax_pro" / "softmaxpro_hcp_elisa_450-650_reduced.txt")
    table = export.table
    assert len(table) == 96 and set(table["read"]) == {"reduced"}
    assert export.metadata["plates"]["Plate1"]["wavelengths"] == [450.0, 650.0]
    a1 = _cell(table, "A1")
    assert a1["signal"] == pytest.approx(1.8566) and a1["sample_type"] == "standard"
    assert a1["expected_concentration"] == 100
    assert _cell(table, "A2")["expected_concentration"] == 100  # replicate line
    assert _cell(table, "F1")["expected_concentration"] == 0
    b3 = _cell(table, "B3")  # Samples 01: 2.009, R, 113.062
    assert b3["vendor_flag"] == "R" and b3["vendor_concentration"] == pytest.approx(113.062)
    assert (table["sample_type"] == "standard").sum() == 12
    assert _cell(table, "G1")["sample_type"] == "control"


def test_tecan_384_dual_wavelength(exports):
    path = exports / "tecan_magellan" / "magellan_384well_elisa_SLA01P01.xlsx"
    corrected = read_tecan(path).table
    assert len(corrected) == 384 and set(corrected["read"]) == {"485-560"}
    assert _cell(corrected, "A1")["signal"] == pytest.approx(0.0557 - 0.0509)
    raw = read_tecan(path, reference=None).table
    assert len(raw) == 768
    assert _cell(raw, "P24", read="Label1")["signal"] == pytest.approx(0.0356)
    assert _cell(raw, "P24", read="Label2")["wavelength"] == 560


def test_bmg_mars(exports):
    export = read_bmg(exports / "bmg_mars" / "bmg_mars_abs450_96well.csv")
    table = export.table
    assert len(table) == 96 and set(table["wavelength"]) == {450.0}
    assert _cell(table, "A1")["signal"] == pytest.approx(0.073)
    assert _cell(table, "H12")["signal"] == pytest.approx(0.207)
    assert export.metadata["header"]["Test run no."] == "445"


@pytest.fixture(scope="module")
def xponent31(exports):
    return read_xponent(exports / "luminex_xponent" / "xponent31_cytokine30plex_quan_pone0187901_s001.csv")


def test_xponent_30plex_shape_and_signal(xponent31):
    table = xponent31.table
    assert table["analyte"].nunique() == 30 and table["well"].nunique() == 96 and len(table) == 2880
    assert xponent31.metadata["signal"] == "Net MFI"
    b1 = _cell(table, "B1", "FGF")  # Net MFI "2(1,B1)",Control1,2882
    assert b1["signal"] == 2882 and b1["sample_type"] == "control"
    assert _cell(table, "A1", "IL1B")["sample_type"] == "blank"
    assert xponent31.metadata["units"]["IL10"] == "pg/mL"


def test_xponent_result_and_flags(xponent31):
    table = xponent31.table
    assert _cell(table, "B1", "FGF")["vendor_concentration"] == pytest.approx(993.625341838801)
    below = _cell(table, "C1", "FGF")  # Result "< 0.10528564453125"
    assert math.isnan(below["vendor_concentration"]) and below["vendor_flag"] == "< 0.10528564453125"
    above = _cell(table, "A2", "FGF")  # Result "> 3450"
    assert above["vendor_flag"].startswith("> 3450")
    assert "Extrapolated" in _cell(table, "C1", "GMCSF")["vendor_flag"]
    assert _cell(table, "C1", "FGF")["dilution"] == 2


def test_xponent_vendor_curves(xponent31):
    curve = xponent31.metadata["vendor_curves"]["FGF"]
    assert curve["model"] == "Logistic 5P"
    assert curve["params"]["A"] == pytest.approx(-0.228742409930827)
    assert curve["params"]["F"] == pytest.approx(0.607306274611151)
    assert curve["r2"] == pytest.approx(0.845900071353852)
    assert len(xponent31.metadata["vendor_curves"]) == 30


def test_xponent_standards_repaired_and_regular(xponent31):
    table = xponent31.table
    il10 = table[(table["analyte"] == "IL10") & (table["sample_type"] == "standard")]
    assert il10["expected_concentration"].nunique() == 16
    assert _cell(table, "H6", "IL10")["expected_concentration"] == pytest.approx(1303.125)  # file: 1303125
    assert any("1303125" in note for note in xponent31.leniencies)
    check_standards(xponent31)


def test_xponent_magpix_with_real_layout(exports):
    export = read_xponent(exports / "luminex_xponent" / "xponent42_magpix_covidoise_lite.csv")
    assert export.table["analyte"].nunique() == 2 and export.table["well"].nunique() == 96
    assert _cell(export.table, "A2", "Spike_6P")["signal"] == 14256
    layout = read_layout(exports / "plate_layout" / "covidoise_lite_layout_8x12.csv")
    with pytest.raises(AssayFileError) as error:
        apply_layout(export, layout)
    assert error.value.where == "well A12" and "1:4" in error.value.message
    annotated = apply_layout(export, layout, check_series=False).table
    assert _cell(annotated, "B1", "ME")["sample_id"] == "CO-F-226-01-CF"
    assert _cell(annotated, "A2", "ME")["expected_concentration"] == pytest.approx(1 / 50)
    assert _cell(annotated, "A1", "ME")["sample_type"] == "blank"


def test_bioplex_sheets_flags_and_curves(exports):
    export = read_bioplex(exports / "bioplex_manager" / "bioplex41_linco_hscyto13plex_pnLINCO20070302A.xlsx")
    table = export.table
    assert table["analyte"].nunique() == 13 and set(table["plate"]) == {"PLATE1_3-2-07"}
    s4 = _cell(table, "A2", "IFN-gamma")  # S4, A2,B2, FI 82.3, Obs 16.35, Exp 16
    assert s4["signal"] == pytest.approx(82.3) and s4["replicate_wells"] == "A2,B2"
    assert s4["vendor_concentration"] == pytest.approx(16.35) and s4["expected_concentration"] == 16
    outlier = _cell(table, "C2", "IL-4")  # S5 designated outlier: FI "---"
    assert math.isnan(outlier["signal"]) and "---" in outlier["vendor_flag"]
    assert "Conc in Range ***" in _cell(table, "C1", "IL-4")["vendor_flag"]
    assert _cell(table, "B6", "IL-1b")["replicate_wells"] == "B6"
    curve = export.metadata["vendor_curves"]["IFN-gamma"]
    assert curve["params"] == {"A": 31.1682, "B": 29497.8, "C": 6906.93, "D": -1.05124}
    assert export.metadata["bead_regions"]["IL-6"] == 12


def test_read_assay_on_every_real_export(exports):
    for folder in ("gen5", "softmax_pro", "tecan_magellan", "bmg_mars", "luminex_xponent", "bioplex_manager"):
        for path in sorted((exports / folder).iterdir()):
            export = read_assay(path)
            assert len(export.table) > 0 and export.table["signal"].notna().any()

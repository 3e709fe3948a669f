"""Property-based fuzzing of the assay readers (``read_assay``, every format) and plate layouts.

Text exports are mutated line by line and cell by cell (wrong delimiters,
NaN/inf, huge numbers, deleted or repeated lines, truncation); workbooks are
mutated inside the zip (a sheet's XML) and as bytes. The only outcomes allowed
are a read or an :class:`~msclab.errors.AssayFileError` naming the file, in time.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import hardening_support as hs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msclab.errors import AssayFileError
from msclab.io.assay import read_assay
from msclab.io.layout import read_layout
from msclab.io.plate_reader import grid

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = ("NaN", "nan", "inf", "-inf", "1e308", "1e999", "-1", "0", "", ",", ";", "\t", '"', "1/0", "STD0", "OVRFLW",
          "9" * 40, "\x00", "A", "H12", "P24", "1,5", "\u00b5", "Plate", "Read,450", ",1,2,3,4,5,6,7,8,9,10,11,12")
TEXT_SEEDS = ("bmg_mars/bmg_mars_abs450_96well.csv", "gen5/gen5_abs450_96well_ovrflw_missed.txt",
              "gen5/gen5_endpoint_stdcurve_layout_singleplate.txt",
              "softmax_pro/softmaxpro_hcp_elisa_450-650_reduced.txt",
              "luminex_xponent/xponent42_magpix_covidoise_lite.csv")
XLSX_SEEDS = ("tecan_magellan/magellan_384well_elisa_SLA01P01.xlsx",
              "bioplex_manager/bioplex41_linco_hscyto13plex_pnLINCO20070302A.xlsx")

#: A text mutation: (operation, position as a fraction, token).
mutations = st.tuples(
    st.sampled_from(("truncate", "delete_line", "duplicate_line", "cell", "number", "insert", "delimiter")),
    st.floats(0, 1, exclude_max=True),
    st.sampled_from(TOKENS),
)


def apply(text: str, mutation: tuple) -> str:
    """Apply one :data:`mutations` draw to an export's text."""
    op, where, token = mutation
    lines = text.splitlines(keepends=True) or [""]
    line = int(where * len(lines))
    if op == "truncate":
        return text[:int(where * len(text))]
    if op == "delete_line":
        return "".join(lines[:line] + lines[line + 1:])
    if op == "duplicate_line":
        return "".join(lines[:line + 1] + lines[line:])
    if op == "delimiter":
        old, new = [(",", ";"), (",", "\t"), ("\t", ","), (",", ""), (";", ",")][int(where * 5)]
        return text.replace(old, new)
    if op == "insert":
        at = int(where * len(text))
        return text[:at] + token + text[at:]
    pattern = r"[^,;\t\r\n]+" if op == "cell" else r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?"
    matches = list(re.finditer(pattern, text))
    if not matches:
        return text
    m = matches[int(where * len(matches))]
    return text[:m.start()] + token + text[m.end():]


def mutate_xlsx(raw: bytes, mutation: tuple, member_pick: float) -> bytes:
    """Apply a text mutation to one XML member of a workbook, re-zipped."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    names = [n for n in source.namelist() if n.endswith(".xml")]
    target = names[int(member_pick * len(names))]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as sink:
        for name in source.namelist():
            data = source.read(name)
            if name == target:
                data = apply(data.decode("utf-8", errors="replace"), mutation).encode("utf-8")
            sink.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def elisa(repo_root: Path) -> Path:
    """The simulated ELISA exports and layouts of example_data."""
    return repo_root / "example_data" / "elisa"


@pytest.mark.shared_data
@given(seed=st.sampled_from(TEXT_SEEDS + ("example:ifng_plate1.csv",)),
       steps=st.lists(mutations, min_size=1, max_size=3))
@FUZZ
def test_text_export_mutations_read_or_refuse(shared_data, elisa, tmp_path_factory, seed, steps):
    source = elisa / seed.split(":")[1] if seed.startswith("example:") else shared_data / "assay_exports" / seed
    text = source.read_bytes().decode("utf-8", errors="surrogateescape")
    for step in steps:
        text = apply(text, step)
    target = tmp_path_factory.mktemp("assay") / source.name
    target.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    hs.check_outcome(lambda: read_assay(target), target)


@pytest.mark.shared_data
@given(seed=st.sampled_from(XLSX_SEEDS), step=mutations, member=st.floats(0, 1, exclude_max=True),
       flip=st.none() | st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=4)))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_workbook_mutations_read_or_refuse(shared_data, tmp_path_factory, seed, step, member, flip):
    raw = (shared_data / "assay_exports" / seed).read_bytes()
    if flip is None:
        raw = mutate_xlsx(raw, step, member)
    else:
        at = int(flip[0] * len(raw))
        raw = raw[:at] + flip[1] + raw[at + len(flip[1]):]
    target = tmp_path_factory.mktemp("xlsx") / Path(seed).name
    target.write_bytes(raw)
    hs.check_outcome(lambda: read_assay(target), target, seconds=15.0)


@pytest.mark.shared_data
@given(seed=st.sampled_from(("shared", "example")), steps=st.lists(mutations, min_size=1, max_size=3))
@FUZZ
def test_layout_mutations_read_or_refuse(shared_data, elisa, tmp_path_factory, seed, steps):
    source = (shared_data / "assay_exports" / "plate_layout" / "covidoise_lite_layout_8x12.csv" if seed == "shared"
              else elisa / "ifng_plate1_layout.csv")
    text = source.read_text(encoding="utf-8")
    for step in steps:
        text = apply(text, step)
    folder = tmp_path_factory.mktemp("layout")
    target = folder / source.name
    target.write_text(text, encoding="utf-8")
    hs.check_outcome(lambda: read_layout(target), target)
    if seed == "example":  # the layout applied to its own export: refusals must name the file at fault
        try:
            read_assay(elisa / "ifng_plate1.csv", layout=target)
        except AssayFileError as exc:
            assert target.name in str(exc) or "ifng_plate1.csv" in str(exc), str(exc)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xff\xfe", b"\x00\x00\x00\x00", b"PK\x03\x04garbage"])
@pytest.mark.parametrize("name", ["plate.csv", "plate.xlsx", "plate.txt"])
def test_empty_and_garbage_files_are_refused(tmp_path, content, name):
    target = tmp_path / name
    target.write_bytes(content)
    assert hs.check_outcome(lambda: read_assay(target), target) == "refused"
    assert hs.check_outcome(lambda: read_layout(target), target) == "refused"


def test_layout_relative_standard_of_zero_is_not_a_division_by_zero(tmp_path, elisa):
    """Regression (fuzzing): a layout cell '1/0' raised ZeroDivisionError in classify_sample."""
    text = (elisa / "ifng_plate1_layout.csv").read_text().replace("STD1,STD1", "1/0,1/0", 1)
    target = tmp_path / "layout.csv"
    target.write_text(text)
    wells = read_layout(target).wells
    assert wells.loc[wells["well"] == "A1", "sample_type"].item() == "unknown"


@pytest.mark.shared_data
def test_xponent_repeated_well_is_refused(shared_data, tmp_path):
    """Regression (fuzzing): a repeated well row in a per-well section raised pandas' ValueError."""
    lines = (shared_data / "assay_exports/luminex_xponent/xponent42_magpix_covidoise_lite.csv").read_text(
        encoding="utf-8", errors="replace").splitlines(keepends=True)
    count = next(i for i, line in enumerate(lines) if line.strip('"\r\n').startswith("DataType:") and "Count" in line)
    first_well = next(i for i in range(count + 2, len(lines)) if lines[i].startswith('"'))
    target = tmp_path / "xponent.csv"
    target.write_text("".join(lines[:first_well + 1] + lines[first_well:]), encoding="utf-8")
    with pytest.raises(AssayFileError, match="listed twice in section 'Count'"):
        read_assay(target)


@pytest.mark.shared_data
def test_damaged_workbook_sheet_is_refused(shared_data, tmp_path):
    """Regression (fuzzing): damage inside a sheet surfaced while iterating rows as ParseError/BadZipFile."""
    raw = (shared_data / "assay_exports" / XLSX_SEEDS[0]).read_bytes()
    target = tmp_path / "damaged.xlsx"
    target.write_bytes(mutate_xlsx(raw, ("insert", 0.5, "<"), 0.99))
    with pytest.raises(AssayFileError, match="damaged.xlsx"):
        read_assay(target)


def test_workbook_cell_cap_bounds_memory(tmp_path, monkeypatch):
    """A workbook with more cells than any plate export is refused while streaming, not loaded whole."""
    import openpyxl

    book = openpyxl.Workbook()
    for _ in range(50):
        book.active.append(list(range(12)))
    book.save(tmp_path / "big.xlsx")
    monkeypatch.setattr(grid, "MAX_XLSX_CELLS", 300)
    with pytest.raises(AssayFileError, match="more than 300 cells"):
        read_assay(tmp_path / "big.xlsx")


@pytest.mark.shared_data
def test_softmax_group_without_sample_column_is_read(shared_data, tmp_path):
    """Regression (fuzzing): a SoftMax group table without its 'Sample' header raised KeyError."""
    text = (shared_data / "assay_exports/softmax_pro/softmaxpro_hcp_elisa_450-650_reduced.txt").read_bytes()
    decoded = text.decode("utf-16") if text[:2] in (b"\xff\xfe", b"\xfe\xff") else text.decode("utf-8", "replace")
    assert "\tSample\t" in decoded
    target = tmp_path / "softmax.txt"
    target.write_text(decoded.replace("\tSample\t", "\tSpecimen\t"), encoding="utf-8")
    hs.check_outcome(lambda: read_assay(target), target)


@pytest.mark.parametrize(("level", "factor"), [("9" * 40, "2"), ("400", "0.0001")])
def test_absurd_standard_level_is_refused_with_its_well(elisa, tmp_path, level, factor):
    """Fuzz finding LAYOUT-1: STD<huge> overflowed the level's concentration (top / factor^(level-1))."""
    text = (elisa / "ifng_plate1_layout.csv").read_text(encoding="utf-8")
    text = text.replace("Dilution factor,2", f"Dilution factor,{factor}").replace("B,STD2,STD2", f"B,STD{level},STD2")
    target = tmp_path / "ifng_plate1_layout.csv"
    target.write_text(text, encoding="utf-8")
    with pytest.raises(AssayFileError, match="no usable concentration") as info:
        read_assay(elisa / "ifng_plate1.csv", layout=target)
    assert info.value.where == "well B1" and target.name in str(info.value)

"""The FCS reader against the public files and their independent truths.

Expected numbers come from ``shared/reference/test_data.md`` (sections 1, 2.1,
2.5, 2.6), from FlowIO/FlowKit reading the same file, from FlowIO's ``.npy``
truth arrays, or from bytes the test itself writes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import flowio
import numpy as np
import pytest

from msclab.errors import FCSError
from msclab.io import open_fcs, read_fcs

# (relative path, events, channels) from test_data.md sections 1 and 2.6.
INVENTORY = [
    ("gatingml2_compliance/data1.fcs", 13367, 8),
    ("flowjo_workspaces/flowsom_68983/68983.fcs", 19225, 18),
    ("flowjo_workspaces/flowkit_simple_diamond/test_data_diamond_01.fcs", 200000, 2),
    ("flowjo_workspaces/flowkit_simple_line/data_set_simple_line_100.fcs", 100, 2),
    ("fcs_real/flowcore_compdata/data/060909.001", 10000, 7),
    ("fcs_real/flowcore_compdata/data/060909.002", 8805, 7),
    ("fcs_real/flowcore_compdata/data/060909.003", 7485, 7),
    ("fcs_real/flowcore_compdata/data/060909.004", 10000, 7),
    ("fcs_real/flowcore_compdata/data/060909.005", 10000, 7),
    ("fcs_real/flowcore_extdata/0877408774.B08", 10000, 8),
    ("fcs_real/flowcore_extdata/0877408774.E07", 10000, 8),
    ("fcs_real/flowcore_extdata/0877408774.F06", 10000, 8),
    ("fcs_real/flowkit_4_color_beads/Compensation Controls_Blue B Stained Control_005.fcs", 5000, 11),
    ("fcs_real/flowkit_4_color_beads/Compensation Controls_Green A Stained Control_006.fcs", 5000, 11),
    ("fcs_real/flowkit_4_color_beads/Compensation Controls_Red A Stained Control_004.fcs", 5000, 11),
    ("fcs_real/flowkit_4_color_beads/Compensation Controls_Red B Stained Control_003.fcs", 5000, 11),
    ("fcs_real/flowkit_comp/test_comp_example.fcs", 10703, 18),
    ("fcs_real/flowio/B01 KC-A-W---91-US.fcs", 1589, 14),
    ("fcs_real/flowio/G11.fcs", 5785, 12),
    ("fcs_real/cytonorm/Gates_PTLG021_Unstim_Control_1.fcs", 1000, 55),
    ("fcs_real/cytonorm/Gates_PTLG021_Unstim_Control_2.fcs", 1000, 55),
    ("fcs_real/flowcal/Data001.fcs", 20949, 6),
    ("fcs_real/flowcal/Data002.fcs", 20000, 9),
    ("fcs_real/flowcal/Data003.fcs", 25000, 8),
    ("assay_exports/legendplex_fcs/legendplex_K2-C07-A7_cytoflex.fcs", 6194, 12),
    ("fcs_edge_cases/coulter.lmd", 18110, 8),
    ("fcs_edge_cases/Beckman Coulter - Cytomics FC500.LMD", 27072, 8),
    ("fcs_edge_cases/System II listmode with extra info in bits D10-D15.LMD", 10358, 6),
    ("fcs_edge_cases/100715.fcs", 65016, 16),
    ("fcs_edge_cases/Stratedigm - S1400.fcs", 10000, 38),
    ("fcs_edge_cases/Partec - PAS.FCS", 33649, 8),
    ("fcs_edge_cases/Beckman Coulter - Cyan.fcs", 5789, 12),
    ("fcs_edge_cases/index_sorted_example.fcs", 384, 13),
    ("fcs_edge_cases/variable_int_example.fcs", 2, 26),
]

# Files FlowIO reads as one data set, with the options it needs (test_data.md section 1).
# Cyan: its TEXT offsets point 46 bytes too far (events shifted by 23 values); the HEADER ones are right.
FLOWIO_READABLE = {
    "gatingml2_compliance/data1.fcs": {},
    "flowjo_workspaces/flowsom_68983/68983.fcs": {},
    "fcs_real/flowcore_compdata/data/060909.002": {},
    "fcs_real/flowcore_extdata/0877408774.B08": {},
    "fcs_real/flowkit_comp/test_comp_example.fcs": {"ignore_offset_error": True},
    "fcs_real/flowio/B01 KC-A-W---91-US.fcs": {},
    "fcs_real/flowio/G11.fcs": {},
    "fcs_real/cytonorm/Gates_PTLG021_Unstim_Control_1.fcs": {},
    "fcs_real/flowcal/Data001.fcs": {},
    "fcs_real/flowcal/Data002.fcs": {},
    "assay_exports/legendplex_fcs/legendplex_K2-C07-A7_cytoflex.fcs": {},
    "fcs_edge_cases/System II listmode with extra info in bits D10-D15.LMD": {},
    "fcs_edge_cases/100715.fcs": {},
    "fcs_edge_cases/Stratedigm - S1400.fcs": {},
    "fcs_edge_cases/Partec - PAS.FCS": {"ignore_offset_error": True},
    "fcs_edge_cases/Beckman Coulter - Cyan.fcs": {"use_header_offsets": True},
    "fcs_edge_cases/index_sorted_example.fcs": {},
    "fcs_edge_cases/variable_int_example.fcs": {},
}


def _flowio(path: Path, **options) -> flowio.FlowData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flowio.FlowData(path, **options)


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "n_events", "n_channels"), INVENTORY, ids=[Path(n).name for n in [i[0] for i in INVENTORY]])
def test_every_public_file_loads_with_its_counts(shared_data, name, n_events, n_channels):
    adata = read_fcs(shared_data / name)
    assert adata.shape == (n_events, n_channels)
    assert adata.X.dtype == np.float32
    assert adata.var.index.is_unique
    assert set(adata.var["type"]) <= {"scatter", "fluorescence", "time", "other"}
    assert adata.uns["fcs"]["n_events"] == n_events


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["data_start_offset_discrepancy_example.fcs", "data_stop_offset_discrepancy_example.fcs"])
def test_offset_discrepancy_files_are_refused(shared_data, name):
    with pytest.raises(FCSError) as info:
        open_fcs(shared_data / "fcs_edge_cases" / name)
    error = info.value
    assert error.file is not None and error.file.name == name
    assert error.where.startswith("byte ")
    assert "HEADER" in error.message and "$BEGINDATA" in error.message
    assert error.hint


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(FLOWIO_READABLE), ids=[Path(n).name for n in sorted(FLOWIO_READABLE)])
def test_stored_values_equal_flowio(shared_data, name):
    flow = _flowio(shared_data / name, **FLOWIO_READABLE[name])
    expected = flow.as_array(preprocess=False)
    raw = open_fcs(shared_data / name).read_raw()
    np.testing.assert_array_equal(raw, expected)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name", sorted(set(FLOWIO_READABLE) - {"fcs_edge_cases/variable_int_example.fcs"}),
    ids=[Path(n).name for n in sorted(set(FLOWIO_READABLE) - {"fcs_edge_cases/variable_int_example.fcs"})])
def test_scale_values_equal_flowio_rounded_to_float32(shared_data, name):
    expected = _flowio(shared_data / name, **FLOWIO_READABLE[name]).as_array(preprocess=True)
    np.testing.assert_array_equal(read_fcs(shared_data / name).X, expected.astype(np.float32))


@pytest.mark.shared_data
def test_data1_scale_and_stored_values_equal_flowio_truth(shared_data):
    data1 = shared_data / "gatingml2_compliance" / "data1.fcs"
    truth = shared_data / "gatingml2_compliance" / "preprocessing_truth"
    scaled = read_fcs(data1)
    np.testing.assert_array_equal(scaled.X, np.load(truth / "data1_preprocessed.npy").astype(np.float32))
    np.testing.assert_array_equal(read_fcs(data1, scale=False).X, np.load(truth / "data1_original_events.npy"))
    first = [88.0109, 27.25, 7.2339, 34.5989, 11.0400, 5.0, 5.1861, 0.0]  # test_data.md section 2.1
    np.testing.assert_allclose(scaled.X[0], first, atol=1e-4)
    assert list(scaled.var["gain"][:2]) == [3.67, 8.0]
    assert list(scaled.var["log_decades"][2:5]) == [4.0, 4.0, 4.0]


@pytest.mark.shared_data
def test_b01_time_is_scaled_by_timestep(shared_data):
    folder = shared_data / "fcs_real" / "flowio"
    adata = read_fcs(folder / "B01 KC-A-W---91-US.fcs")
    truth = np.load(folder / "B01 KC-A-W---91-US_preprocessed_events.npy")
    np.testing.assert_array_equal(adata.X, truth.astype(np.float32))
    assert adata.uns["fcs"]["timestep"] == 0.1
    assert adata.uns["fcs"]["version"] == "3.1"


@pytest.mark.shared_data
def test_variable_int_masking_and_junk_timestep(shared_data):
    fcs = open_fcs(shared_data / "fcs_edge_cases" / "variable_int_example.fcs")
    raw = fcs.read_raw()
    assert list(raw[0, :3]) == [49135, 61373, 48575]  # FlowIO test_parse_var_int_data
    assert list(raw[:, 25]) == [8265081, 15691602]  # masked to 2**24 (test_data.md 1d)
    assert any("$TIMESTEP" in note and "xxxxxxxxx" in note for note in fcs.leniencies)
    assert fcs.timestep == 1.0
    adata = fcs.to_anndata()
    assert adata.var.loc["Time", "type"] == "time"


@pytest.mark.shared_data
def test_coulter_lmd_data_sets(shared_data):
    path = shared_data / "fcs_edge_cases" / "coulter.lmd"
    default = open_fcs(path)
    assert default.dataset == 1 and default.version == "3.0"
    assert [ds.version for ds in default.data_sets] == ["2.0", "3.0"]
    assert all(ds.summary()["n_events"] == 18110 for ds in default.data_sets)
    assert default.data_sets[0].keywords["$CYT"] == "Cytomics FC 500"
    expected = [61056, 131840, 46, 324, 10309, 104, 11912, 0, 257280, 378656, 139, 1728,
                58688, 354, 58720, 0, 164128, 305376, 159, 924, 29024, 208, 29728, 0]
    assert list(default.read_raw().ravel()[:24]) == expected  # test_data.md section 2.6
    first = open_fcs(path, dataset=0)
    assert first.version == "2.0" and first.n_events == 18110
    assert first.read_raw().max() <= 1023  # 16-bit words masked to $PnR = 1024
    with pytest.raises(FCSError, match="data set 2 requested"):
        open_fcs(path, dataset=2)


@pytest.mark.shared_data
def test_fc500_10_bit_data_set_matches_the_20_bit_one(shared_data):
    """The FCS 2.0 set ($PnB=10) holds the top 10 bits of the FCS 3.0 set's 20-bit FS and SS."""
    path = shared_data / "fcs_edge_cases" / "Beckman Coulter - Cytomics FC500.LMD"
    ten_bit = open_fcs(path, dataset=0)
    assert [c.bits for c in ten_bit.channels] == [10, 10, 10, 10]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        twenty_bit = flowio.read_multiple_data_sets(path, ignore_offset_error=True)[1]
    reference = twenty_bit.as_array(preprocess=False).astype(np.int64)
    np.testing.assert_array_equal(ten_bit.read_raw()[:, :2], reference[:, :2] // 1024)


@pytest.mark.shared_data
def test_data003_24_bit_integers(shared_data):
    path = shared_data / "fcs_real" / "flowcal" / "Data003.fcs"
    adata = read_fcs(path, scale=False)
    assert list(adata.var_names) == ["TIME", "FSC", "SSC", "FL1", "FL2", "FL3", "FSCW", "FSCA"]
    blob = path.read_bytes()[4096:4096 + 3 * 16]  # HEADER data start; big-endian ($BYTEORD 4,3,2,1)
    first_two = [int.from_bytes(blob[i:i + 3], "big") for i in range(0, len(blob), 3)]
    assert adata.X[:2].ravel().tolist() == first_two
    assert read_fcs(path).var.loc["TIME", "type"] == "time"


@pytest.mark.shared_data
def test_system_ii_junk_bits_masked(shared_data):
    raw = open_fcs(shared_data / "fcs_edge_cases" / "System II listmode with extra info in bits D10-D15.LMD").read_raw()
    assert raw.max() == 1023  # test_data.md 1d


@pytest.mark.shared_data
def test_cyan_uses_header_offsets_and_records_it(shared_data):
    fcs = open_fcs(shared_data / "fcs_edge_cases" / "Beckman Coulter - Cyan.fcs")
    raw = fcs.read_raw()
    event_count = [c.name for c in fcs.channels].index("Event Count")
    assert list(raw[:3, event_count]) == [2, 3, 4]  # a counter: the events are not shifted
    assert any("HEADER" in note and "2284" in note for note in fcs.leniencies)
    assert any("f2 = 0 read as 1" in note for note in fcs.leniencies)


@pytest.mark.shared_data
def test_partec_off_by_one_is_recorded(shared_data):
    fcs = open_fcs(shared_data / "fcs_edge_cases" / "Partec - PAS.FCS")
    assert any("one byte past" in note for note in fcs.leniencies)


@pytest.mark.shared_data
def test_latin1_text_recorded(shared_data):
    fcs = open_fcs(shared_data / "gatingml2_compliance" / "data1.fcs")
    assert any("Latin-1" in note for note in fcs.leniencies)
    assert fcs.keywords["CREATOR"] == "CELLQuest\u00aa 3.3"


@pytest.mark.shared_data
def test_metadata_only_open_gives_identity_keywords(shared_data):
    fcs = open_fcs(shared_data / "fcs_edge_cases" / "index_sorted_example.fcs")
    assert fcs.n_events == 384
    assert fcs.keywords["$PAR"].strip() == "13"
    assert list(fcs.var.columns) == ["pnn", "pns", "marker", "range", "bits", "gain", "log_decades",
                                     "log_offset", "type"]


@pytest.mark.shared_data
def test_h5ad_round_trip(shared_data, tmp_path):
    import anndata as ad

    adata = read_fcs(shared_data / "fcs_real" / "flowio" / "B01 KC-A-W---91-US.fcs")
    adata.write_h5ad(tmp_path / "b01.h5ad")
    back = ad.read_h5ad(tmp_path / "b01.h5ad")
    np.testing.assert_array_equal(back.X, adata.X)
    assert back.uns["fcs"]["spillover"]["keyword"] == "$SPILLOVER"


@pytest.mark.shared_data
@pytest.mark.slow
def test_events_drop_into_scanpy(shared_data):
    """neighbors + UMAP on a subset (leidenalg/igraph are not installed, so no Leiden here)."""
    import scanpy as sc

    adata = read_fcs(shared_data / "flowjo_workspaces" / "flowsom_68983" / "68983.fcs")
    subset = adata[:1500, adata.var["type"] == "fluorescence"].copy()
    subset.X = np.arcsinh(subset.X / 150)
    sc.pp.neighbors(subset, n_neighbors=10, use_rep="X", method="gauss")
    sc.tl.umap(subset, random_state=0)
    assert subset.obsm["X_umap"].shape == (1500, 2)
    assert np.isfinite(subset.obsm["X_umap"]).all()


# --- files written by the test: the bytes are the truth ---------------------------------------


def _fcs_bytes(keywords: dict[str, str], data: bytes, version: str = "3.1", delimiter: str = "/",
               header_data: tuple[int, int] | None = None, text_encoding: str = "utf-8") -> bytes:
    """A minimal FCS file: HEADER, TEXT (with $BEGINDATA/$ENDDATA filled in), DATA."""
    def text_with(begin: int, end: int) -> bytes:
        pairs = {**keywords, "$BEGINDATA": f"{begin:>10d}", "$ENDDATA": f"{end:>10d}"}
        body = "".join(f"{k}{delimiter}{v}{delimiter}" for k, v in pairs.items())
        return (delimiter + body).encode(text_encoding)

    text = text_with(0, 0)
    data_start = 58 + len(text)
    data_end = data_start + len(data) - 1
    text = text_with(data_start, data_end)
    start, end = header_data or (data_start, data_end)
    header = f"FCS{version}    {58:>8d}{57 + len(text):>8d}{start:>8d}{end:>8d}{0:>8d}{0:>8d}".encode()
    return header + text + data


def _keywords(n_events: int, names: list[str], datatype: str = "F", bits: int = 32, byteord: str = "1,2,3,4",
              **extra: str) -> dict[str, str]:
    kw = {"$BYTEORD": byteord, "$DATATYPE": datatype, "$MODE": "L", "$NEXTDATA": "0", "$PAR": str(len(names)),
          "$TOT": str(n_events)}
    for n, name in enumerate(names, start=1):
        kw.update({f"$P{n}N": name, f"$P{n}B": str(bits), f"$P{n}E": "0,0", f"$P{n}R": "1024"})
    kw.update(extra)
    return kw


def test_duplicate_names_missing_pns_and_big_endian_doubles(tmp_path):
    values = np.array([[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]])
    path = tmp_path / "dup.fcs"
    path.write_bytes(_fcs_bytes(_keywords(2, ["FL1-A", "FL1-A", "Time"], "D", 64, "4,3,2,1", **{"$P1S": "CD3"}),
                                values.astype(">f8").tobytes()))
    adata = read_fcs(path)
    assert list(adata.var_names) == ["FL1-A", "FL1-A_2", "Time"]
    assert list(adata.var["pnn"]) == ["FL1-A", "FL1-A", "Time"]
    assert list(adata.var["marker"]) == ["CD3", "", ""]
    np.testing.assert_array_equal(adata.X, values.astype(np.float32))
    assert any("renamed 'FL1-A_2'" in note for note in adata.uns["fcs"]["leniencies"])


def test_fcs32_mixed_datatypes_and_log_scaling(tmp_path):
    ints = np.array([512, 1023], dtype="<u2")
    floats = np.array([0.25, -3.0], dtype="<f4")
    rows = b"".join(i.tobytes() + f.tobytes() for i, f in zip(ints, floats, strict=True))
    kw = _keywords(2, ["FL1-H", "FSC-A"], "F", 32, **{"$P1DATATYPE": "I", "$P1B": "16", "$P1E": "4,0"})
    path = tmp_path / "mixed.fcs"
    path.write_bytes(_fcs_bytes(kw, rows, version="3.2"))
    adata = read_fcs(path)
    expected_fl1 = 10 ** (4 * ints.astype(float) / 1024)  # f2 = 0 read as 1
    np.testing.assert_array_equal(adata.X[:, 0], expected_fl1.astype(np.float32))
    np.testing.assert_array_equal(adata.X[:, 1], floats)
    assert adata.uns["fcs"]["version"] == "3.2"


def test_huge_tot_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.fcs"
    path.write_bytes(_fcs_bytes(_keywords(10**12, ["A", "B"]), np.zeros(4, "<f4").tobytes()))
    with pytest.raises(FCSError, match=r"\$TOT \(1000000000000\)") as info:
        read_fcs(path)
    assert info.value.where.startswith("byte ")


def test_truncated_file_is_refused(shared_data, tmp_path):
    blob = (shared_data / "gatingml2_compliance" / "data1.fcs").read_bytes()
    path = tmp_path / "cut.fcs"
    path.write_bytes(blob[:3000])
    with pytest.raises(FCSError, match="truncated|DATA segment"):
        read_fcs(path)


def test_not_an_fcs_file(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("well,value\nA1,3\n" * 10)
    with pytest.raises(FCSError, match="not an FCS file"):
        open_fcs(path)
    with pytest.raises(FCSError, match="not found"):
        open_fcs(tmp_path / "missing.fcs")


def test_unsupported_datatype_names_the_keyword(tmp_path):
    path = tmp_path / "ascii.fcs"
    path.write_bytes(_fcs_bytes(_keywords(1, ["A"], "A", 8), b"12345678"))
    with pytest.raises(FCSError) as info:
        open_fcs(path)
    assert info.value.where == "keyword $DATATYPE"


def test_gain_empty_timestep_and_supplemental_text(tmp_path):
    data = np.array([[100, 40], [200, 80]], dtype="<u2").tobytes()
    kw = _keywords(2, ["FSC-H", "Time"], "I", 16, **{"$P1G": "4", "$TIMESTEP": " "})
    path = tmp_path / "gain.fcs"
    path.write_bytes(_fcs_bytes(kw, data, version="3.0"))
    fcs = open_fcs(path)
    np.testing.assert_array_equal(fcs.read_events(), np.array([[25, 40], [50, 80]], dtype=np.float32))
    assert any("$TIMESTEP" in note for note in fcs.leniencies)


def test_mixed_byte_order_words(tmp_path):
    values = np.array([[70000, 5], [3, 123456]], dtype="<u4")
    little = values.tobytes()
    words = np.frombuffer(little, np.uint8).reshape(-1, 4)
    mixed = words[:, [2, 3, 0, 1]].tobytes()  # $BYTEORD 3,4,1,2: file byte i holds significance order[i]
    kw = _keywords(2, ["A", "B"], "I", 32, "3,4,1,2", **{"$P1R": "262144", "$P2R": "262144"})
    path = tmp_path / "pdp.fcs"
    path.write_bytes(_fcs_bytes(kw, mixed, version="2.0"))
    np.testing.assert_array_equal(open_fcs(path).read_raw(), values)


def test_absurd_timestep_and_gain_scale_to_infinity_without_warnings(tmp_path):
    # time x 1e300 and value / 1e-300 are beyond float32: +-inf (0 stays 0), with no overflow warning
    data = np.array([[100.0, 40.0], [-2.0, 0.0]], dtype="<f4").tobytes()
    kw = _keywords(2, ["FL1-A", "Time"], **{"$P1G": "1e-300", "$TIMESTEP": "1e300"})
    path = tmp_path / "absurd.fcs"
    path.write_bytes(_fcs_bytes(kw, data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = open_fcs(path).read_events()
    np.testing.assert_array_equal(events, np.array([[np.inf, np.inf], [-np.inf, 0.0]], dtype=np.float32))


def test_var_names_can_be_markers_for_scanpy_plots(repo_root):
    """``var_names="marker"`` names channels by marker ($PnS) so ``sc.pl.scatter(adata, x="CD4", y="CD8")`` works."""
    from msclab.errors import FCSError
    from msclab.io import read_fcs

    path = repo_root / "example_data" / "fcs" / "D1_pbmc_treg.fcs"
    by_detector = read_fcs(path)
    by_marker = read_fcs(path, var_names="marker")
    assert "CD4" in by_marker.var_names and "CD4" not in by_detector.var_names
    assert by_marker.var_names.is_unique
    assert list(by_marker.var["pnn"]) == list(by_detector.var_names)
    cd4 = by_detector.var.index[by_detector.var["marker"] == "CD4"][0]
    assert (by_marker[:, "CD4"].X == by_detector[:, cd4].X).all()
    with pytest.raises(FCSError, match="var_names"):
        read_fcs(path, var_names="pns")


@pytest.mark.parametrize("word", [0, 17, 29])  # in the first, the third and the last (partial) chunk
@pytest.mark.parametrize("byteord", ["1,2,3,4", "4,3,2,1"])
def test_data_read_in_chunks_swaps_and_quiets_nans(tmp_path, monkeypatch, byteord, word):
    # the DATA segment is read straight into the array in chunks, checked for NaNs by a second thread;
    # a chunk size that does not divide the events must give the same values, swapped to native
    # order, with a signalling NaN quieted wherever it is
    from msclab.io.fcs import _data

    monkeypatch.setattr(_data, "_CHUNK_BYTES", 28)  # 7 float32 words: chunks cut events and values apart
    values = np.arange(30, dtype=np.float32).reshape(10, 3) - 7.5
    stored = values.astype(">f4" if byteord == "4,3,2,1" else "<f4")
    raw = bytearray(stored.tobytes())
    signalling = b"\x7f\xa0\x00\x01" if byteord == "4,3,2,1" else b"\x01\x00\xa0\x7f"
    raw[4 * word:4 * (word + 1)] = signalling
    path = tmp_path / "chunks.fcs"
    path.write_bytes(_fcs_bytes(_keywords(10, ["FSC-A", "SSC-A", "FL1-A"], "F", 32, byteord), bytes(raw)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = open_fcs(path).read_events()
        as_double = events.astype(np.float64)
    expected = values.copy()
    expected[divmod(word, 3)] = np.nan
    assert events.dtype == np.float32 and events.dtype.isnative
    np.testing.assert_array_equal(events, expected)
    assert np.isnan(as_double[divmod(word, 3)]) and np.isnan(as_double).sum() == 1
    # without a NaN nothing is replaced and the array is the one read into
    path.write_bytes(_fcs_bytes(_keywords(10, ["FSC-A", "SSC-A", "FL1-A"], "F", 32, byteord), stored.tobytes()))
    np.testing.assert_array_equal(open_fcs(path).read_raw(), values)

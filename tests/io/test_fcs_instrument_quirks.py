"""Real instrument quirks the FCS reader accepts when the file is otherwise consistent.

The files are written by the test, so their bytes (and the planted values) are the truth:
a supplemental TEXT holding a binary ZIP archive of instrument settings (Sysmex/Partec
CyFlow), and integer channels of different widths ($PnB 16 and 8 in one event).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from msclab.errors import FCSError
from msclab.io import open_fcs, read_fcs


def _fcs(keywords: dict[str, str], data: bytes, stext: bytes = b"") -> bytes:
    """HEADER, TEXT, an optional supplemental TEXT region, DATA; every offset consistent (FCS 3.1)."""
    def text(kw: dict[str, str]) -> bytes:
        return ("/" + "".join(f"{k}/{v}/" for k, v in kw.items())).encode("ascii")

    kw = dict(keywords)
    for _ in range(4):  # the offsets' own digits move the segments: iterate to a fixed point
        body = text(kw)
        stext_start = 58 + len(body)
        data_start = stext_start + len(stext)
        kw["$BEGINDATA"], kw["$ENDDATA"] = str(data_start), str(data_start + len(data) - 1)
        if stext:
            kw["$BEGINSTEXT"], kw["$ENDSTEXT"] = str(stext_start), str(stext_start + len(stext) - 1)
        else:
            kw["$BEGINSTEXT"] = kw["$ENDSTEXT"] = "0"
    body = text(kw)
    assert 58 + len(body) == stext_start
    header = f"FCS3.1    {58:>8}{57 + len(body):>8}{data_start:>8}{data_start + len(data) - 1:>8}{0:>8}{0:>8}"
    return header.encode("ascii") + body + stext + data


def _settings_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Settings.xml", "<Instrument><Gain FL1='512'/><Threshold FSC='40'/></Instrument>" * 20)
    blob = buffer.getvalue()
    return blob


def _keywords(n_events: int) -> dict[str, str]:
    return {"$BYTEORD": "1,2,3,4", "$DATATYPE": "F", "$MODE": "L", "$NEXTDATA": "0", "$PAR": "3",
            "$TOT": str(n_events), "$CYT": "CyFlow Cube 8",
            "$P1N": "FSC", "$P1B": "32", "$P1R": "65536", "$P1E": "0,0",
            "$P2N": "FL1", "$P2B": "32", "$P2R": "65536", "$P2E": "0,0", "$P2S": "CD3",
            "$P3N": "Time", "$P3B": "32", "$P3R": "65536", "$P3E": "0,0"}


def test_a_zip_in_the_supplemental_text_is_ignored_and_recorded(tmp_path):
    rng = np.random.default_rng(7)
    values = np.column_stack([rng.uniform(0, 60000, 200), rng.uniform(0, 60000, 200),
                              np.arange(200.0)]).astype("<f4")
    with_zip, plain = tmp_path / "cyflow.fcs", tmp_path / "plain.fcs"
    archive = _settings_zip()
    with_zip.write_bytes(_fcs(_keywords(200), values.tobytes(), archive))
    plain.write_bytes(_fcs(_keywords(200), values.tobytes()))

    adata, reference = read_fcs(with_zip), read_fcs(plain)
    np.testing.assert_array_equal(adata.X, values)
    np.testing.assert_array_equal(adata.X, reference.X)
    assert list(adata.var["marker"]) == ["", "CD3", ""]
    notes = adata.uns["fcs"]["leniencies"]
    assert any("supplemental TEXT" in n and "ZIP" in n and "ignored" in n for n in notes), notes
    assert not any("supplemental" in n for n in reference.uns["fcs"]["leniencies"])
    assert not any(k.startswith("PK") for k in adata.uns["fcs"]["keywords"])  # no keyword made of archive bytes


def test_a_zip_in_the_supplemental_text_does_not_hide_a_damaged_data_segment(tmp_path):
    values = np.arange(30, dtype="<f4")
    blob = bytearray(_fcs(_keywords(10), values.tobytes(), _settings_zip()))
    path = tmp_path / "cut.fcs"
    path.write_bytes(bytes(blob[:-40]))  # DATA cut short: HEADER, TEXT and DATA no longer agree
    with pytest.raises(FCSError):
        read_fcs(path)


def test_integer_channels_of_16_and_8_bits_in_one_event(tmp_path):
    rng = np.random.default_rng(3)
    n = 50
    fsc = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    fl1 = rng.integers(0, 1 << 8, n, dtype=np.uint8)
    fl2 = rng.integers(0, 1 << 10, n, dtype=np.uint16)  # 16 bits stored, $P3R 1024: 10 used
    event = np.dtype([("fsc", "<u2"), ("fl1", "u1"), ("fl2", "<u2")])
    rows = np.zeros(n, dtype=event)
    rows["fsc"], rows["fl1"], rows["fl2"] = fsc, fl1, fl2
    kw = {"$BYTEORD": "1,2", "$DATATYPE": "I", "$MODE": "L", "$NEXTDATA": "0", "$PAR": "3", "$TOT": str(n),
          "$P1N": "FSC", "$P1B": "16", "$P1R": "65536", "$P1E": "0,0",
          "$P2N": "FL1", "$P2B": "8", "$P2R": "256", "$P2E": "0,0",
          "$P3N": "FL2", "$P3B": "16", "$P3R": "1024", "$P3E": "0,0"}
    path = tmp_path / "mixed_widths.fcs"
    path.write_bytes(_fcs(kw, rows.tobytes()))
    assert rows.itemsize == 5
    raw = open_fcs(path).read_raw()
    np.testing.assert_array_equal(raw, np.column_stack([fsc, fl1, fl2]))
    np.testing.assert_array_equal(read_fcs(path).X, np.column_stack([fsc, fl1, fl2]).astype(np.float32))



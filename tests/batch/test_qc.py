"""Levey-Jennings table, Westgard flags and the self-contained batch report."""

from __future__ import annotations

import json

from msclab.batch.qc import flag, levey_jennings
from msclab.batch.report import write_batch_report


def _plates(values, params=None):
    return [(f"p{i}", {"controls": [{"control": "unstimulated", "sample_id": "D1", "readout": "flow:x:/T:pct_parent",
                                     "value": v}],
                       "curves": [{"analyte": "IL-10", "plate": "1", "params": json.dumps(params or {"a": 1.0 + i}),
                                   "lloq": 2.0, "uloq": 900.0, "accepted": True}]})
            for i, v in enumerate(values)]


def test_outlier_plate_is_flagged_1_3s_and_limits_are_robust():
    table = levey_jennings(_plates([50.0, 51.0, 49.0, 50.5, 49.5, 80.0]))
    series = table[table["source"] == "flow"]
    assert list(series["flag"]) == ["ok"] * 5 + ["1-3s"]
    assert series["center"].iloc[0] == 50.25  # the median: the bad plate does not move the centre
    curve = table[(table["source"] == "curve") & (table["parameter"] == "a")]
    assert len(curve) == 6 and set(curve["flag"]) <= {"ok", "1-2s", "1-3s"}
    assert flag(2.5) == "1-2s" and flag(-3.1) == "1-3s" and flag(float("nan")) == ""


def test_fewer_than_three_plates_get_no_limits(tmp_path):
    table = levey_jennings(_plates([50.0, 60.0]))
    assert table["center"].isna().all() and set(table["flag"]) == {""}
    path = write_batch_report(tmp_path / "r.html", {"run_id": "r1"}, [{"plate": "p0", "status": "done"}], [], table)
    text = path.read_text()
    assert "data:image/png;base64," in text and "Levey" in text and "Westgard" in text

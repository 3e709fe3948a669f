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
    assert "data:image/png;base64," not in text and "Levey" in text and "Westgard" in text


def test_report_draws_no_chart_under_three_points_wraps_titles_and_links_reports(tmp_path):
    import re

    from msclab.batch.report import TITLE_WIDTH, wrap_title

    two = levey_jennings(_plates([50.0, 60.0]))
    (tmp_path / "p0").mkdir()
    (tmp_path / "p0" / "report.html").write_text("<html></html>")
    plates = [{"plate": "p0", "status": "done", "seconds": 41.234}, {"plate": "p1", "status": "failed"}]
    text = write_batch_report(tmp_path / "r.html", {"run_id": "r1"}, plates, [], two).read_text()
    assert "data:image/png;base64," not in text  # 2 points: listed in levey_jennings.csv, not drawn
    assert f"({two['series'].nunique()} such series)" in text
    assert '<a href="p0/report.html">report.html</a>' in text
    assert text.count("report.html</a>") == 1  # p1 has no report: no dead link
    assert "<td>41.2</td>" in text
    three = levey_jennings(_plates([50.0, 60.0, 55.0]))
    drawn = write_batch_report(tmp_path / "r3.html", {"run_id": "r1"}, plates, [], three).read_text()
    assert len(re.findall("data:image/png;base64,", drawn)) == three["series"].nunique()

    title = "flow:th_ics:/Lymphocytes/Singlets/Live/CD45+/T cells/CD4/IFN-g+:pct_parent unstimulated"
    lines = wrap_title(title).split("\n")
    assert "".join(lines) == title  # nothing cut
    assert len(lines) > 1 and all(len(line) <= TITLE_WIDTH for line in lines)

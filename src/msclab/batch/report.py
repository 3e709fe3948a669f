"""``OUT/batch_report.html``: plates, failures and Levey-Jennings charts, self-contained (PNGs in base64)."""

from __future__ import annotations

import base64
import html
import io
import re
import textwrap
import time
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .._files import atomic_write
from .._parallel import fork_map

#: Most charts drawn (series with flags first).
MAX_CHARTS = 60
#: Fewest points a chart is drawn with: limits need 3 plates (:func:`msclab.batch.qc.levey_jennings`).
MIN_CHART_POINTS = 3
#: Characters per line of a chart title (wrapped, never cut).
TITLE_WIDTH = 58

REFERENCES = [
    "Levey S, Jennings ER. The use of control charts in the clinical laboratory. "
    "Am J Clin Pathol. 1950;20(11):1059-1066.",
    "Westgard JO, Barry PL, Hunt MR, Groth T. A multi-rule Shewhart chart for quality control in clinical "
    "chemistry. Clin Chem. 1981;27(3):493-501.",
]

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%;text-align:left}th{background:#f3f3f3}
.failed{color:#b00}.w{background:#fff4d6}.r{background:#fde2e2}.charts img{width:380px;margin:4px}"""


def _chart(series: pd.DataFrame) -> str:
    """One Levey-Jennings chart as a base64 PNG (a matplotlib ``Figure``: no pyplot, no backend change)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 2.2), dpi=90)
    ax = fig.subplots()
    x = range(len(series))
    ax.plot(x, series["value"], marker="o", color="#333", lw=1)
    center, sd = series["center"].iloc[0], series["sd"].iloc[0]
    if pd.notna(center) and pd.notna(sd):
        ax.axhline(center, color="#2a7", lw=1)
        for k, colour in ((2, "#e90"), (3, "#c00")):
            ax.axhline(center + k * sd, color=colour, lw=0.8, ls="--")
            ax.axhline(center - k * sd, color=colour, lw=0.8, ls="--")
    bad = series["flag"].isin(["1-2s", "1-3s"]).to_numpy()
    ax.scatter([i for i, b in zip(x, bad) if b], series["value"][bad], color="#c00", zorder=3)
    ax.set_xticks(list(x), [str(p) for p in series["point"]], rotation=30, ha="right", fontsize=6)
    ax.set_title(wrap_title(str(series["series"].iloc[0])), fontsize=7)
    ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def wrap_title(title: str, width: int = TITLE_WIDTH) -> str:
    """A chart title on as many lines as it needs, broken after ``/``, ``:`` or a space (never cut)."""
    pieces = [p for p in re.split(r"(?<=[/: ])", title) if p]
    lines = [""]
    for piece in pieces:
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line for chunk in lines for line in textwrap.wrap(chunk, width, break_on_hyphens=False) or [""])


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if column == "report" and value:
        return f'<a href="{html.escape(str(value))}">report.html</a>'
    return html.escape("" if value is None else str(value))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cls = {"1-2s": "w", "1-3s": "r", "failed": "failed"}.get(str(row.get("flag") or row.get("status")), "")
        cells = "".join(f"<td>{_cell(row, c)}</td>" for c in columns)
        body.append(f'<tr class="{cls}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _plate_rows(folder: Path, plates: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plates with ``seconds`` rounded and a relative link to each experiment's ``report.html``."""
    rows = []
    for plate in plates:
        report = folder / str(plate.get("plate", "")) / "report.html"
        seconds = plate.get("seconds")
        rows.append({**plate, "seconds": None if seconds is None else round(float(seconds), 1),
                     "report": report.relative_to(folder).as_posix() if report.is_file() else None})
    return rows


def write_batch_report(path: str | PathLike[str], run: dict[str, Any], plates: Sequence[dict[str, Any]],
                       failures: Sequence[dict[str, Any]], lj: pd.DataFrame,
                       warnings: Sequence[dict[str, str]] = ()) -> Path:
    """Write the batch report.

    Parameters
    ----------
    path
        The HTML file.
    run
        The run's registry row (its ``started`` gives the wall time so far).
    plates
        The plates' registry rows; ``seconds`` is each plate's wall time in
        the run, from its first task's start to its assembly's end. A plate
        whose folder beside the report holds ``report.html`` gets a link to it.
    failures
        Failed units (``plate, stage, sample_id, reason``).
    lj
        :func:`msclab.batch.qc.levey_jennings` output.
    warnings
        Each experiment's warnings (``plate, warning``): skipped and low-confidence
        gates, control fallbacks; the plates table counts them per plate.
    """
    flagged = lj[lj["flag"].isin(["1-2s", "1-3s"])]
    order = list(dict.fromkeys(list(flagged["series"]) + list(lj["series"])))
    drawable = [s for s in order if (lj["series"] == s).sum() >= MIN_CHART_POINTS]
    # drawn in forked processes where that is safe (a serial batch; not beside the Dask client's threads)
    charts = fork_map(_chart, [lj[lj["series"] == s] for s in drawable[:MAX_CHARTS]], min_per_process=4)
    target = Path(path)
    n_warnings: dict[str, int] = {}
    for w in warnings:
        n_warnings[w["plate"]] = n_warnings.get(w["plate"], 0) + 1
    started = run.get("started")
    wall = f", {time.time() - float(started):.1f} s wall time" if started is not None else ""
    parts = [
        f"<h1>msclab batch {html.escape(str(run.get('run_id', '')))}</h1>",
        f"<p>msclab {html.escape(str(run.get('msclab_version', '')))}, scheduler "
        f"{html.escape(str(run.get('scheduler', '')))}, {len(plates)} plate(s), {len(failures)} failure(s), "
        f"{len(warnings)} warning(s)"
        f"{wall}.</p>",
        "<h2>Plates</h2>",
        "<p>seconds: the plate's wall time in this run (first task started to results assembled; cached "
        "units take none).</p>",
        _table([{**row, "n_warnings": n_warnings.get(str(row.get("plate")), 0)}
                for row in _plate_rows(target.parent, plates)],
               ["plate", "status", "n_units", "n_failed", "n_warnings", "seconds", "report", "reason", "manifest"]),
        "<h2>Failures</h2>",
        _table(failures, ["plate", "stage", "sample_id", "reason"]) if failures else "<p>None.</p>",
        "<h2>Warnings</h2>",
        "<p>What an experiment did in place of what it asked: gates skipped for lack of a marker, gates of "
        "low confidence, control-based thresholds that fell back; each plate's report.html details them and "
        "gate_qc.csv lists every gate.</p>",
        _table(warnings, ["plate", "warning"]) if warnings else "<p>None.</p>",
        "<h2>Cross-plate QC (Levey-Jennings)</h2>",
        "<p>Control samples' population frequencies (mean per control kind and plate) and standard-curve "
        "parameters, in run order. Centre = median of the batch, SD = 1.4826 &times; MAD; dashed lines at "
        "&plusmn;2 SD (orange) and &plusmn;3 SD (red). Westgard rules: <b>1-2s</b> warning, <b>1-3s</b> reject. "
        f"Series with fewer than {MIN_CHART_POINTS} plates have no limits and are not drawn "
        f"({len(order) - len(drawable)} such series). All points: levey_jennings.csv.</p>",
        f"<h3>Flags ({len(flagged)})</h3>",
        _table(flagged.to_dict("records"), ["series", "point", "value", "center", "sd", "z", "flag"])
        if len(flagged) else "<p>No point beyond 2 SD.</p>",
        '<div class="charts">' + "".join(f'<img src="data:image/png;base64,{c}">' for c in charts) + "</div>",
        "<h2>References</h2><ol>" + "".join(f"<li>{html.escape(r)}</li>" for r in REFERENCES) + "</ol>",
    ]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>msclab batch</title><style>{_STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
    with atomic_write(target) as handle:
        handle.write(page)
    return target

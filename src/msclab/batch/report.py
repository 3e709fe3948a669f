"""``OUT/batch_report.html``: plates, failures and Levey-Jennings charts, self-contained (PNGs in base64)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from .._files import atomic_write

#: Most charts drawn (series with flags first).
MAX_CHARTS = 60

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 2.2), dpi=90)
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
    ax.set_title(str(series["series"].iloc[0]), fontsize=7)
    ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cls = {"1-2s": "w", "1-3s": "r", "failed": "failed"}.get(str(row.get("flag") or row.get("status")), "")
        cells = "".join(f"<td>{html.escape('' if row.get(c) is None else str(row.get(c)))}</td>" for c in columns)
        body.append(f'<tr class="{cls}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_batch_report(path: str | PathLike[str], run: dict[str, Any], plates: Sequence[dict[str, Any]],
                       failures: Sequence[dict[str, Any]], lj: pd.DataFrame) -> Path:
    """Write the batch report.

    Parameters
    ----------
    path
        The HTML file.
    run
        The run's registry row.
    plates
        The plates' registry rows.
    failures
        Failed units (``plate, stage, sample_id, reason``).
    lj
        :func:`msclab.batch.qc.levey_jennings` output.
    """
    flagged = lj[lj["flag"].isin(["1-2s", "1-3s"])]
    order = list(dict.fromkeys(list(flagged["series"]) + list(lj["series"])))
    charts = [_chart(lj[lj["series"] == s]) for s in order[:MAX_CHARTS] if (lj["series"] == s).sum() >= 2]
    parts = [
        f"<h1>msclab batch {html.escape(str(run.get('run_id', '')))}</h1>",
        f"<p>msclab {html.escape(str(run.get('msclab_version', '')))}, scheduler "
        f"{html.escape(str(run.get('scheduler', '')))}, {len(plates)} plate(s), {len(failures)} failure(s).</p>",
        "<h2>Plates</h2>",
        _table(plates, ["plate", "status", "n_units", "n_failed", "seconds", "reason", "manifest"]),
        "<h2>Failures</h2>",
        _table(failures, ["plate", "stage", "sample_id", "reason"]) if failures else "<p>None.</p>",
        "<h2>Cross-plate QC (Levey-Jennings)</h2>",
        "<p>Control samples' population frequencies (mean per control kind and plate) and standard-curve "
        "parameters, in run order. Centre = median of the batch, SD = 1.4826 &times; MAD; dashed lines at "
        "&plusmn;2 SD (orange) and &plusmn;3 SD (red). Westgard rules: <b>1-2s</b> warning, <b>1-3s</b> reject. "
        "Series with fewer than 3 plates have no limits. All points: levey_jennings.csv.</p>",
        f"<h3>Flags ({len(flagged)})</h3>",
        _table(flagged.to_dict("records"), ["series", "point", "value", "center", "sd", "z", "flag"])
        if len(flagged) else "<p>No point beyond 2 SD.</p>",
        '<div class="charts">' + "".join(f'<img src="data:image/png;base64,{c}">' for c in charts) + "</div>",
        "<h2>References</h2><ol>" + "".join(f"<li>{html.escape(r)}</li>" for r in REFERENCES) + "</ol>",
    ]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>msclab batch</title><style>{_STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
    target = Path(path)
    with atomic_write(target) as handle:
        handle.write(page)
    return target

"""``plan.html``: power curves against donors, the recommendation and the assumptions."""

from __future__ import annotations

import html
import io
from os import PathLike

from .power import PLAN_COLUMNS


def _curves_svg(table, effect_id: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = table[table["effect_id"] == effect_id]
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    for (contrast, events), line in sub.groupby(["contrast", "events"]):
        line = line.sort_values("donors")
        ax.plot(line["donors"], line["power"], marker="o", ms=3, label=f"{contrast}, {events:,} events")
        ax.fill_between(line["donors"], line["ci_low"], line["ci_high"], alpha=0.15)
    ax.axhline(0.8, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="donors", ylabel="power (concordant)", ylim=(0, 1), title=effect_id)
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _table_html(frame) -> str:
    return frame.to_html(index=False, na_rep="not reached", float_format=lambda v: f"{v:.3g}", border=0)


def _assay_text(m) -> str:
    """The assay part of an endpoint's assumptions (empty for flow endpoints)."""
    if m.kind != "concentration":
        return ""
    read = (f"read off a 4PL in {m.wells} wells (signal noise {m.read_cv:.0%} + {m.read_sd:g}, "
            f"dilution {m.dilution:g}; CV {m.assay_cv:.3g} per well at the control median)"
            if m.curve is not None else f"assay CV {m.assay_cv:.3g}")
    return f"{read}, LLOQ {m.lloq:.3g}, ULOQ {m.uloq:.3g}. "


def render(result, source: str | PathLike[str] | None) -> str:
    """Return the self-contained HTML page of a :class:`~msclab.plan.run.PlanResult`."""
    table, design = result.table, result.design
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>msclab plan</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:12px}"
        "td,th{padding:2px 6px;border-bottom:1px solid #ddd}.curves{display:flex;flex-wrap:wrap}"
        "</style></head><body><h1>Experiment plan: power of msclab's verdicts</h1>",
        f"<p>Power = probability that <code>msclab analyze</code> calls the planted effect concordant "
        f"(rule <code>{design.rule}</code>, its own threshold), from {design.n_sim} simulated experiments "
        f"per design point, 95% Wilson interval. False-call rate = share of experiments without any MSC effect "
        f"called concordant or discordant. Replicate cultures per donor and arm: {design.replicates}.</p>",
        "<h2>Recommendation: smallest design reaching 80% power</h2>",
        _table_html(result.recommendation),
        "<h2>Power against donors</h2><div class='curves'>",
    ]
    parts += [f"<div>{_curves_svg(table, eid)}</div>" for eid in dict.fromkeys(table["effect_id"])]
    parts.append("</div><h2>Assumptions and their sources</h2><ul>")
    parts += [f"<li><b>{html.escape(eid)}</b> ({m.kind}): size at 1:10 {m.size:+.3g}, donor SD {m.donor_sd:.3g}, "
              f"baseline {m.baseline:.3g} (SD {m.baseline_sd:.3g}), events in parent {m.parent_share:.3f}, culture SD "
              f"{m.culture_sd:.3g}, {_assay_text(m)}Sources: {html.escape(m.source)}</li>"
              for eid, m in result.models.items() if eid in set(table["effect_id"]) or not len(table)]
    parts.append("<li>Ratio scaling: msclab.simulate.effects.ratio_weight (full at 1:10, half at 1:50; catalogue "
                 "mod_dose_ratio: Le Blanc 2003, Di Nicola 2002, Bloom 2015; shape is msclab's heuristic).</li>")
    parts.append("<li>Verdict rule and thresholds: msclab.compare (scoring.log2fc_consistent, "
                 "scoring.suppression_consistent, halved by modifiers: msclab's own heuristics).</li></ul>")
    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    parts.append(f"<p>Source of sizes and variances: {html.escape(str(source)) if source else 'synthetic defaults'}.</p>")
    parts.append("<h2>Full table</h2>" + _table_html(table.loc[:, list(PLAN_COLUMNS)]) + "</body></html>")
    return "".join(parts)

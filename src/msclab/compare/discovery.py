"""Discovery's estimates beside the gated ones in the comparison, with their agreement.

Discovery (:mod:`msclab.discovery`) names clusters from marker rules; a named
population with a catalogue id (Treg, Th1, Th17, Th2; ``rules.yaml``) has its
own paired differential-abundance estimate, ``populations.csv`` of
``OUT/discovery/<panel>/`` (log2 ratio of its fraction of the parent
population, moderated-t interval, BH q). :func:`beside_discovery` sets it
beside every gated readout mapped to the same catalogue effect in the same
contrast and says how the two agree:

- ``both_significant``: same direction and both q < 0.05;
- ``same_direction``: same direction, at most one of the two significant;
- ``disagree``: opposite directions; the row is flagged ``discovery_disagrees``
  and its reason says so.

The two estimates measure the same population two ways (hypothesis-driven
gates, data-driven clusters): where they agree, the effect does not hinge on
where the gates were drawn; where they disagree, the gates or the annotation
deserve a look (docs/discovery.md). The agreement is reported, not scored: the
verdict and the concordance score use the gated estimate only. Significance is
q < 0.05 on both sides, the false discovery rate both tables control
(Benjamini & Hochberg, J R Stat Soc B 1995;57:289-300).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: q-value below which an estimate counts as significant.
SIGNIFICANCE = 0.05
BOTH_SIGNIFICANT = "both_significant"
SAME_DIRECTION = "same_direction"
DISAGREE = "disagree"
#: Flag of a comparison row whose discovery estimate goes the other way.
DISAGREE_FLAG = "discovery_disagrees"

#: Columns added to ``comparison.csv`` when discovery gave estimates.
DISCOVERY_COLUMNS = ("discovery_panel", "discovery_population", "discovery_log2_ratio", "discovery_ci_low",
                     "discovery_ci_high", "discovery_q_value", "discovery_n_donors", "agreement")
_TEXT = ("discovery_panel", "discovery_population", "agreement")


def read_discovered(steps: Mapping) -> pd.DataFrame:
    """The named populations' estimates of every panel discovery ran on (``provenance.steps``).

    Returns
    -------
    pandas.DataFrame
        ``panel`` and the columns of ``populations.csv``, only populations
        with a catalogue id; empty when discovery did not run or gave none.
    """
    parts = []
    for panel, record in steps.get("discovery", {}).items():
        path = record.get("outputs", {}).get("populations") if record.get("status") == "ok" else None
        if not path:
            continue
        table = pd.read_csv(path, keep_default_na=False, na_values=[""],
                            dtype={"catalogue_id": str, "annotation": str, "contrast": str})
        parts.append(table.assign(panel=panel))
    if not parts:
        return pd.DataFrame(columns=["panel", "contrast", "annotation", "catalogue_id"])
    found = pd.concat(parts, ignore_index=True)
    return found[found["catalogue_id"].fillna("").astype(str) != ""].reset_index(drop=True)


def agreement(gated: float, gated_q: float, found: float, found_q: float, *, alpha: float = SIGNIFICANCE) -> str:
    """How a discovery estimate agrees with the gated one (both as signed changes, up > 0).

    Examples
    --------
    >>> agreement(-0.7, 0.001, -0.6, 0.01), agreement(-0.7, 0.001, -0.1, 0.6), agreement(0.3, 0.2, -0.2, 0.5)
    ('both_significant', 'same_direction', 'disagree')
    >>> agreement(np.nan, np.nan, -0.6, 0.01)
    ''
    """
    if not (np.isfinite(gated) and np.isfinite(found)) or gated == 0 or found == 0:
        return ""
    if np.sign(gated) != np.sign(found):
        return DISAGREE
    both = bool(np.isfinite(gated_q) and np.isfinite(found_q) and gated_q < alpha and found_q < alpha)
    return BOTH_SIGNIFICANT if both else SAME_DIRECTION


def _pick(candidates: pd.DataFrame, readout: str) -> pd.Series | None:
    """The discovery row for a readout: its own panel's (``flow:<panel>:...``), else the first panel's."""
    if candidates.empty:
        return None
    own = candidates[[readout.startswith(f"flow:{p}:") for p in candidates["panel"].astype(str)]]
    return (own if len(own) else candidates.sort_values("panel")).iloc[0]


def beside_discovery(table: pd.DataFrame, discovered: pd.DataFrame, *, alpha: float = SIGNIFICANCE) -> pd.DataFrame:
    """Add the discovery estimate and its agreement to the comparison rows of the same effect and contrast.

    Parameters
    ----------
    table
        The comparison rows of measured effects (``effect_id, contrast, readout,
        observed, q_value, scale, reason, flags``).
    discovered
        :func:`read_discovered` output.
    alpha
        Significance level of the q-values.

    Returns
    -------
    pandas.DataFrame
        ``table`` with :data:`DISCOVERY_COLUMNS` (empty where no named
        population maps to the row's effect); rows whose discovery estimate
        goes the other way get the flag ``discovery_disagrees`` and a reason.
    """
    out = table.copy()
    values: dict[str, list] = {c: [] for c in DISCOVERY_COLUMNS}
    for rec in out.to_dict("records"):
        match = discovered[(discovered["catalogue_id"] == rec["effect_id"])
                           & (discovered["contrast"].astype(str) == str(rec.get("contrast", "")))]
        row = _pick(match, str(rec.get("readout", "")))
        if row is None:
            for c in DISCOVERY_COLUMNS:
                values[c].append("" if c in _TEXT else np.nan)
            continue
        # A % suppression is positive when the readout goes down: turn it into a signed change.
        gated = float(rec.get("observed", np.nan)) * (-1.0 if rec.get("scale") == "pct_suppression" else 1.0)
        verdict = agreement(gated, float(rec.get("q_value", np.nan)), float(row["log2_ratio"]),
                            float(row["q_value"]), alpha=alpha)
        values["discovery_panel"].append(str(row["panel"]))
        values["discovery_population"].append(str(row["annotation"]))
        for c in ("log2_ratio", "ci_low", "ci_high", "q_value", "n_donors"):
            values[f"discovery_{c}"].append(float(row[c]))
        values["agreement"].append(verdict)
    for c, v in values.items():
        out[c] = v
    disagree = out["agreement"] == DISAGREE
    if disagree.any():
        flags = out.loc[disagree, "flags"].fillna("").astype(str) if "flags" in out else pd.Series("", out.index)
        out.loc[disagree, "flags"] = [f"{f};{DISAGREE_FLAG}" if f else DISAGREE_FLAG for f in flags]
        out.loc[disagree, "reason"] = [
            f"{r}; discovery goes the other way ({p} cluster(s) of panel {pan}: log2 ratio {e:+.2f}, q {q:.2g};"
            f" flag {DISAGREE_FLAG})"
            for r, p, pan, e, q in zip(out.loc[disagree, "reason"], out.loc[disagree, "discovery_population"],
                                       out.loc[disagree, "discovery_panel"], out.loc[disagree, "discovery_log2_ratio"],
                                       out.loc[disagree, "discovery_q_value"], strict=True)]
    return out

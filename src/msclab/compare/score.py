"""Score measured effects against the catalogue: the ``comparison.csv`` table.

:func:`score` maps every effect (readout x contrast) to its catalogue entry,
gives it a verdict (:mod:`msclab.compare.verdicts`) under the experiment's
context and modifiers, and summarises the lot:

- ``score``: the evidence-weighted share of scored expectations that the
  experiment reproduced, ``sum(w * [concordant]) / sum(w)``, with ``w`` the
  evidence weight of the entry in the context (strong 1.0, moderate 0.7,
  weak 0.4, conflicting and insufficient 0; ``scoring.weights``) split evenly
  among the readouts mapped to the same entry in the same contrast;
- ``ci``: its percentile bootstrap interval over donors (donors resampled,
  every effect's paired-t CI and verdict recomputed, score recomputed);
- ``summary``: one plain sentence.

Entries that are literature conflicting are listed with the observed
direction and not scored; entries stated for the context but not measured are
listed as ``not_measured``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..catalogue import load_catalogue
from ..catalogue.model import Catalogue
from ..errors import MsclabError
from .discovery import DISAGREE, beside_discovery
from .expectations import check_context, cite, expectation
from .modifiers import Modifiers, active_modifiers, applied_modifiers
from .verdicts import (
    CONCORDANT,
    DISCORDANT,
    INCONCLUSIVE,
    LITERATURE_CONFLICTING,
    NOT_MEASURED,
    Rule,
    classify,
    expected_sign,
    reason,
)

#: Columns of ``comparison.csv`` that scripts rely on (design contract), first.
COMPARISON_COLUMNS = (
    "effect_id", "readout", "context", "expected", "observed", "ci_low", "ci_high", "verdict", "evidence", "references",
)

_CODE_TO_VERDICT = {1: CONCORDANT, -1: DISCORDANT, 0: INCONCLUSIVE}


@dataclass
class Comparison:
    """The outcome of comparing an experiment with the catalogue.

    Attributes
    ----------
    table
        One row per (entry, readout, contrast) and per unmeasured entry.
    score
        Evidence-weighted share of scored expectations reproduced (0 to 1; NaN
        when nothing could be scored).
    ci
        Bootstrap-over-donors interval of ``score``.
    summary
        Plain-language summary.
    """

    table: pd.DataFrame
    score: float
    ci: tuple[float, float]
    summary: str

    def __repr__(self) -> str:
        verdicts = self.table["verdict"].value_counts().to_dict() if "verdict" in self.table else {}
        score = float("nan") if self.score is None else self.score
        return (f"Comparison(score={score:.3g} [{self.ci[0]:.3g}, {self.ci[1]:.3g}], "
                f"{len(self.table)} rows, verdicts={verdicts})")


def _mapped(effects: pd.DataFrame, catalogue: Catalogue, mapping: dict[str, str | None] | None) -> pd.DataFrame:
    out = effects.copy()
    if "catalogue_id" not in out.columns:
        out["catalogue_id"] = ""
    out["catalogue_id"] = out["catalogue_id"].fillna("").astype(str)
    for readout, effect_id in (mapping or {}).items():
        out.loc[out["readout"] == readout, "catalogue_id"] = effect_id or ""
    out = out[out["catalogue_id"] != ""]
    unknown = sorted(set(out["catalogue_id"]) - set(catalogue.effects))
    if unknown:
        raise MsclabError(
            f"readouts are mapped to catalogue ids that do not exist: {unknown}",
            hint="Fix var['catalogue_id'] or the experiment's mapping; `msclab catalogue list` shows the ids.",
        )
    return out


def _threshold(scale: str, catalogue: Catalogue) -> float:
    s = catalogue.scoring
    return s.suppression_consistent if scale == "pct_suppression" else s.log2fc_consistent


def _strong(scale: str, catalogue: Catalogue) -> float:
    s = catalogue.scoring
    return s.suppression_strong if scale == "pct_suppression" else s.log2fc_strong


def _rows(effects: pd.DataFrame, catalogue: Catalogue, context: str, overrides: Modifiers, rule: Rule) -> list[dict]:
    rows = []
    for rec in effects.to_dict("records"):
        entry = catalogue.effects[rec["catalogue_id"]]
        exp = expectation(entry, context, catalogue)
        scale = str(rec.get("scale", "log2_fc"))
        mods = applied_modifiers(entry, active_modifiers(rec, overrides, catalogue.scoring))
        t = _threshold(scale, catalogue) * (catalogue.scoring.modifier_factor if mods else 1.0)
        sign = expected_sign(exp.direction, scale)
        est, low, high = (float(rec.get(k, np.nan)) for k in ("estimate", "ci_low", "ci_high"))
        if exp.literature_conflicting:
            verdict, why = LITERATURE_CONFLICTING, "the literature disagrees on the direction: reported, not scored"
        else:
            code = int(classify(sign, est, low, high, t, rule))
            verdict, why = _CODE_TO_VERDICT[code], reason(code, sign, est, low, high, t)
            if exp.weight == 0:
                why += f"; evidence {exp.evidence}: not in the score"
        flags = "control_fallback" if "control_fallback" in str(rec.get("notes", "")) else ""
        if flags:
            why += "; a control-based threshold had no control sample and fell back (flag control_fallback)"
        scored = verdict != LITERATURE_CONFLICTING and exp.weight > 0
        rows.append(
            {
                "effect_id": entry.id,
                "readout": rec["readout"],
                "context": context,
                "expected": exp.direction,
                "observed": est,
                "ci_low": low,
                "ci_high": high,
                "verdict": verdict,
                "evidence": exp.evidence,
                "references": cite(exp.refs, catalogue),
                "contrast": rec.get("contrast", ""),
                "label": entry.label,
                "scale": scale,
                "observed_direction": "up" if est > 0 else "down" if est < 0 else "none",
                "threshold": t,
                "strong_effect": bool(abs(est) >= _strong(scale, catalogue)) if not np.isnan(est) else False,
                "modifiers": ";".join(mods),
                "context_used": exp.context_used,
                "conflicting_evidence": entry.conflicting,
                "scored": scored,
                "weight": exp.weight if scored else 0.0,
                "reason": why,
                "flags": flags,
                "p_value": rec.get("p_value", np.nan),
                "q_value": rec.get("q_value", np.nan),
                "n_donors": rec.get("n_donors", np.nan),
                "_sign": sign,
                "_donors": rec.get("donor_values", "{}"),
            }
        )
    return rows


def _unmeasured(catalogue: Catalogue, context: str, measured: set[str]) -> list[dict]:
    rows = []
    for entry in catalogue.entries():
        if entry.id in measured or not entry.is_immune_effect or context not in entry.contexts:
            continue
        exp = expectation(entry, context, catalogue)
        rows.append(
            {
                "effect_id": entry.id, "readout": "", "context": context, "expected": exp.direction,
                "observed": np.nan, "ci_low": np.nan, "ci_high": np.nan, "verdict": NOT_MEASURED,
                "evidence": exp.evidence, "references": cite(exp.refs, catalogue), "contrast": "",
                "label": entry.label, "conflicting_evidence": entry.conflicting, "context_used": context,
                "scored": False, "weight": 0.0, "reason": "no readout maps to this entry",
            }
        )
    return rows


def _weighted_score(codes: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    return float((weights * (codes == 1)).sum() / total) if total > 0 else np.nan


def _bootstrap(table: pd.DataFrame, rule: Rule, n_boot: int, seed: int, confidence: float) -> tuple[float, float]:
    scored = table[table["scored"]]
    if scored.empty:
        return np.nan, np.nan
    donor_maps = [json.loads(v) if isinstance(v, str) and v else {} for v in scored["_donors"]]
    donors = sorted({d for m in donor_maps for d in m})
    if len(donors) < 2:
        return np.nan, np.nan
    matrix = np.array([[m.get(d, np.nan) for d in donors] for m in donor_maps], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(donors), size=(n_boot, len(donors)))
    sign = scored["_sign"].to_numpy(float)
    t = scored["threshold"].to_numpy(float)
    w = scored["weight"].to_numpy(float)
    out = np.empty(n_boot)
    for b in range(n_boot):
        sample = matrix[:, idx[b]]
        n = (~np.isnan(sample)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(sample, axis=1) / n
            sd = np.sqrt(np.nansum((sample - mean[:, None]) ** 2, axis=1) / (n - 1))
            half = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
        half = np.where(n >= 2, half, np.nan)
        out[b] = _weighted_score(classify(sign, mean, mean - half, mean + half, t, rule), w)
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(out, [alpha, 1 - alpha])
    return float(low), float(high)


def _names(table: pd.DataFrame, verdict: str, several: bool, column: str = "verdict") -> list[str]:
    sub = table[table[column] == verdict]
    names = [f"{r.label} ({r.contrast})" if several else r.label for r in sub.itertuples()]
    return list(dict.fromkeys(names))


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _summary(table: pd.DataFrame, value: float, ci: tuple[float, float]) -> str:
    several = table.loc[table["verdict"] != NOT_MEASURED, "contrast"].nunique() > 1
    scored = table[table["scored"]]
    n_agree = int((scored["verdict"] == CONCORDANT).sum())
    parts = [f"{n_agree} of {len(scored)} measured effects agree with the review"]
    n_inconclusive = int((scored["verdict"] == INCONCLUSIVE).sum())
    if n_inconclusive:
        parts.append(f"{n_inconclusive} {'is' if n_inconclusive == 1 else 'are'} inconclusive")
    conflicting = _names(table, LITERATURE_CONFLICTING, several)
    if conflicting:
        verb = "is" if len(conflicting) == 1 else "are"
        parts.append(f"{_join(conflicting)} {verb} conflicting in the literature")
    discordant = _names(scored, DISCORDANT, several)
    if discordant:
        parts.append(f"{_join(discordant)} went the other way")
    if not np.isnan(value):
        ci_text = f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if not np.isnan(ci[0]) else ""
        parts.append(f"evidence-weighted concordance {value:.2f}{ci_text}")
    return "; ".join(parts)


def _discovery_summary(table: pd.DataFrame) -> str:
    """``; discovery ...``: how many discovery estimates agree with the gated ones, which disagree."""
    rows = table[table["agreement"].fillna("").astype(str) != ""]
    if rows.empty:
        return ""
    same = int((rows["agreement"] != DISAGREE).sum())
    text = f"; discovery clusters agree in direction with the gates on {same} of {len(rows)} readouts"
    disagree = _names(rows, DISAGREE, rows["contrast"].nunique() > 1, column="agreement")
    return text + (f" ({_join(disagree)} disagree, flagged)" if disagree else "")


def score(
    effects: pd.DataFrame,
    catalogue: Catalogue | None = None,
    context: str = "in_vitro_human",
    modifiers: Modifiers | None = None,
    *,
    mapping: dict[str, str | None] | None = None,
    rule: Rule = "estimate",
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    discovered: pd.DataFrame | None = None,
) -> Comparison:
    """Compare measured effects with the catalogue.

    Parameters
    ----------
    effects
        The table of :func:`msclab.stats.estimate_effects` (or ``effects.csv``
        read back); readouts map to entries through ``catalogue_id``.
    catalogue
        The catalogue; default :func:`~msclab.catalogue.load_catalogue`.
    context
        The experiment's context (one of the catalogue's contexts).
    modifiers
        Experiment-level statements overriding the samplesheet (ratio,
        culture, licensing, SLE-derived MSCs).
    mapping
        ``readout -> catalogue id`` overriding ``catalogue_id`` (``None`` or
        ``""`` unmaps a readout).
    rule
        Verdict rule, ``"estimate"`` (default) or ``"ci"``.
    n_boot, seed, confidence
        Bootstrap of the score over donors.
    discovered
        Discovery's named-population estimates
        (:func:`msclab.compare.discovery.read_discovered`); when not empty, the
        table gains the discovery estimate beside the gated one and their
        ``agreement`` (:func:`msclab.compare.discovery.beside_discovery`);
        the verdicts and the score use the gated estimates only.

    Returns
    -------
    Comparison
    """
    catalogue = catalogue or load_catalogue()
    check_context(context)
    mapped = _mapped(effects, catalogue, mapping)
    rows = _rows(mapped, catalogue, context, modifiers or Modifiers(), rule)
    table = pd.DataFrame(rows)
    if not table.empty:
        shares = table[table["scored"]].groupby(["effect_id", "contrast"])["effect_id"].transform("size")
        table.loc[shares.index, "weight"] = table.loc[shares.index, "weight"] / shares
    codes = table["verdict"].map({CONCORDANT: 1, DISCORDANT: -1}).fillna(0).to_numpy() if len(table) else np.array([])
    mask = table["scored"].to_numpy(bool) if len(table) else np.array([], bool)
    value = _weighted_score(codes[mask], table["weight"].to_numpy(float)[mask]) if mask.any() else np.nan
    ci = _bootstrap(table, rule, n_boot, seed, confidence) if len(table) else (np.nan, np.nan)
    if discovered is not None and len(discovered) and len(table):
        table = beside_discovery(table, discovered)
    unmeasured = pd.DataFrame(_unmeasured(catalogue, context, set(table["effect_id"]) if len(table) else set()))
    full = pd.concat([table, unmeasured], ignore_index=True) if len(unmeasured) else table
    summary = _summary(full, value, ci) if len(full) else "no readout maps to the catalogue"
    if "agreement" in full.columns:
        summary += _discovery_summary(full)
    full = full.drop(columns=[c for c in ("_sign", "_donors") if c in full.columns])
    order = list(COMPARISON_COLUMNS) + [c for c in full.columns if c not in COMPARISON_COLUMNS]
    return Comparison(table=full.reindex(columns=order), score=value, ci=ci, summary=summary)

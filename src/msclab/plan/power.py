"""Power and false-call rate of ``analyze``'s verdict, by simulation.

Power is the probability that ``analyze`` calls the planted effect
*concordant*: each simulated experiment's donor effects go through the same
paired-t statistics (:func:`msclab.stats.paired.t_stats`) and the same verdict
rule and threshold (:func:`msclab.compare.score` for the threshold, expected
direction and modifiers of each effect x contrast;
:func:`msclab.compare.verdicts.classify` for the verdict) that ``analyze`` uses.
The false-call rate is the share of experiments simulated without any MSC
effect that get a concordant or discordant verdict. Both come with a 95% Wilson
score interval (Wilson EB. J Am Stat Assoc 1927;22:209-212) for power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..compare import score
from ..compare.verdicts import classify, expected_sign
from ..errors import MsclabError
from ..simulate.effects import ratio_weight
from ..stats.paired import t_stats
from .design import PlanDesign, parse_ratio
from .simulator import donor_effects
from .sources import EffectModel

#: Columns of ``plan.csv`` (issue contract).
PLAN_COLUMNS = ("effect_id", "contrast", "donors", "events", "effect", "donor_sd", "threshold",
                "power", "ci_low", "ci_high", "false_call_rate", "n_sim")


def wilson_interval(successes: np.ndarray, n: int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Return the Wilson score interval of binomial proportions."""
    k = np.asarray(successes, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def verdict_codes(donor_effects: np.ndarray, sign: int, threshold: float, rule: str = "estimate") -> np.ndarray:
    """Return ``analyze``'s verdict code (1 concordant, -1 discordant, 0 inconclusive) of every simulated experiment.

    ``donor_effects`` has one row per simulated experiment and one column per
    donor; each row gets the paired-t CI of :func:`msclab.stats.paired.t_stats`
    and the verdict of :func:`msclab.compare.verdicts.classify`.
    """
    ts = t_stats(donor_effects)
    return classify(sign, ts.mean, ts.ci_low, ts.ci_high, threshold, rule)


def contrast_name(ratio: str) -> str:
    """``"1:10"`` -> ``"msc_1to10"`` (the contrast names of ``msclab init`` and ``example_data``)."""
    return "msc_" + ratio.replace(":", "to")


def verdict_rules(models: dict[str, EffectModel], ratios: tuple[str, ...], context: str = "in_vitro_human") -> pd.DataFrame:
    """Ask the comparison layer for each effect x contrast's expected sign and threshold.

    A one-row-per-effect table is scored by :func:`msclab.compare.score` exactly
    as ``analyze`` scores effects, with the treated arm of an ``example_data``
    co-culture (contact, bone-marrow MSCs, not licensed) at each ratio, so the
    threshold includes every modifier ``analyze`` would apply.
    """
    rows = [
        {"readout": f"{eid}@{ratio}", "contrast": contrast_name(ratio), "catalogue_id": eid, "scale": m.scale,
         "estimate": 0.0, "ci_low": -1.0, "ci_high": 1.0, "msc_ratio": ratio, "culture": "contact",
         "msc_source": "BM", "msc_licensing": "none"}
        for eid, m in models.items() for ratio in ratios
    ]
    table = score(pd.DataFrame(rows), context=context, n_boot=1).table
    table = table[table["readout"] != ""].copy()
    table["sign"] = [expected_sign(d, s) for d, s in zip(table["expected"], table["scale"])]
    return table[["effect_id", "contrast", "readout", "verdict", "threshold", "sign", "scale", "modifiers"]]


def plan(
    design: PlanDesign | None = None,
    models: dict[str, EffectModel] | None = None,
    *,
    context: str = "in_vitro_human",
    skipped: list[str] | None = None,
) -> pd.DataFrame:
    """Return the power table: one row per effect x contrast x donors x events.

    Parameters
    ----------
    design
        Donors, ratios, replicates, events, effects, simulations; default :class:`PlanDesign`.
    models
        Endpoint models (:func:`~msclab.plan.sources.default_models` or
        :func:`~msclab.plan.calibration.from_analysis`).
    context
        Catalogue context of the verdicts.
    skipped
        When given, receives one line per effect that cannot be planned and why.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PLAN_COLUMNS`, then ``scale``, ``replicates``, ``ratio``, ``modifiers``.

    Raises
    ------
    MsclabError
        For an effect id without a model.
    """
    from .sources import default_models

    design = design or PlanDesign()
    models = models if models is not None else default_models()
    wanted = design.effects or tuple(models)
    unknown = [e for e in wanted if e not in models]
    if unknown:
        raise MsclabError(f"no model for effects {unknown}; choose from {', '.join(models)}",
                          hint="Effects come from the default panels and assays or from --from.")
    rules = verdict_rules({e: models[e] for e in wanted}, design.ratios, context)
    notes = skipped if skipped is not None else []
    rows = []
    max_d = max(design.donors)
    rng = np.random.default_rng(design.seed)
    for rule in rules.itertuples():
        model = models[rule.effect_id]
        ratio = design.ratios[[contrast_name(r) for r in design.ratios].index(rule.contrast)]
        if rule.verdict == "literature_conflicting":
            notes.append(f"{rule.effect_id} ({rule.contrast}): the literature conflicts on its direction; "
                         "analyze does not score it, so it has no power")
            continue
        weight = ratio_weight(parse_ratio(ratio))
        effect = model.effect_on_scale(weight)
        for events in design.events:
            common = dict(n_sim=design.n_sim, donors=max_d, events=events, replicates=design.replicates, rng=rng)
            alt = donor_effects(model, weight, **common)
            null = donor_effects(model, weight, null=True, **common)
            for d in design.donors:
                codes = [verdict_codes(x[:, :d], rule.sign, rule.threshold, design.rule) for x in (alt, null)]
                k = int((codes[0] == 1).sum())
                low, high = wilson_interval(np.array(k), design.n_sim)
                rows.append({
                    "effect_id": rule.effect_id, "contrast": rule.contrast, "donors": d, "events": events,
                    "effect": effect, "donor_sd": weight * model.donor_sd * (100.0 if model.scale == "pct_suppression" else 1.0),
                    "threshold": float(rule.threshold), "power": k / design.n_sim, "ci_low": float(low),
                    "ci_high": float(high), "false_call_rate": float((codes[1] != 0).mean()), "n_sim": design.n_sim,
                    "scale": model.scale, "replicates": design.replicates, "ratio": ratio,
                    "modifiers": rule.modifiers if isinstance(rule.modifiers, str) else "",
                })
    return pd.DataFrame(rows, columns=[*PLAN_COLUMNS, "scale", "replicates", "ratio", "modifiers"])


def recommend(table: pd.DataFrame, target: float = 0.8) -> pd.DataFrame:
    """Return, per effect x contrast, the smallest design (fewest donors, then fewest events) reaching ``target`` power.

    Effects that reach it at no design get an empty ``donors`` and the best power seen.
    """
    rows = []
    for (eid, contrast), sub in table.groupby(["effect_id", "contrast"], sort=False):
        hit = sub[sub["power"] >= target].sort_values(["donors", "events"])
        if len(hit):
            best = hit.iloc[0]
            rows.append({"effect_id": eid, "contrast": contrast, "donors": int(best["donors"]),
                         "events": int(best["events"]), "power": float(best["power"])})
        else:
            best = sub.sort_values("power").iloc[-1]
            rows.append({"effect_id": eid, "contrast": contrast, "donors": None,
                         "events": int(best["events"]), "power": float(best["power"])})
    return pd.DataFrame(rows, columns=["effect_id", "contrast", "donors", "events", "power"])

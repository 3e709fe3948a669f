"""The ``plan`` entry points: build the models, compute the table, write the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd

from .._files import atomic_write
from .design import PlanDesign
from .power import PLAN_COLUMNS, recommend
from .power import plan as _power_table
from .calibration import from_analysis
from .sources import EffectModel, default_models


@dataclass
class PlanResult:
    """A power table with what it assumed.

    Attributes
    ----------
    table
        ``plan.csv``.
    recommendation
        Smallest design reaching 80% power per effect x contrast.
    models
        The endpoint models used.
    notes
        Estimates taken from an analysis, defaults kept, effects skipped.
    """

    table: pd.DataFrame
    recommendation: pd.DataFrame
    models: dict[str, EffectModel]
    design: PlanDesign
    notes: list[str] = field(default_factory=list)


def compute(design: PlanDesign | None = None, source: str | PathLike[str] | None = None,
            context: str = "in_vitro_human") -> PlanResult:
    """Return the power table and its assumptions (``source``: an ``analyze`` output folder, or defaults)."""
    design = design or PlanDesign()
    notes: list[str] = []
    if source is None:
        models = default_models()
        notes.append("effect sizes and variances: synthetic defaults (msc_catalogue.md §4 via msclab.simulate)")
    else:
        models, notes = from_analysis(source)
    table = _power_table(design, models, context=context, skipped=notes)
    return PlanResult(table, recommend(table), models, design, notes)


def plan(
    donors=None, ratios=None, replicates: int = 1, events=None, effects=(), n_sim: int = 1000, seed: int = 0,
    rule: str = "estimate", source: str | PathLike[str] | None = None, context: str = "in_vitro_human",
) -> pd.DataFrame:
    """Return the power table ``msclab plan`` writes to ``plan.csv``.

    Parameters
    ----------
    donors, events
        Donor counts and events per tube to evaluate (defaults of :class:`PlanDesign`).
    ratios
        MSC:PBMC ratios such as ``("1:10", "1:50")``.
    replicates
        Replicate cultures per donor and arm.
    effects
        Catalogue ids (default: every effect the models know).
    n_sim, seed
        Simulations per design point and seed.
    rule
        ``analyze``'s verdict rule (``estimate`` or ``ci``).
    source
        An earlier ``analyze`` output folder to estimate sizes and variances from.
    context
        Catalogue context.

    Examples
    --------
    >>> import msclab
    >>> table = msclab.plan(donors=(3, 6), events=(4000,), n_sim=200)  # doctest: +SKIP
    """
    kwargs = {k: tuple(v) for k, v in (("donors", donors), ("ratios", ratios), ("events", events)) if v is not None}
    design = PlanDesign(replicates=replicates, effects=tuple(effects), n_sim=n_sim, seed=seed, rule=rule, **kwargs)
    return compute(design, source, context).table.loc[:, list(PLAN_COLUMNS)]


def run(out: str | PathLike[str], design: PlanDesign | None = None, source: str | PathLike[str] | None = None,
        context: str = "in_vitro_human") -> PlanResult:
    """Compute the plan and write ``OUT/plan.csv`` and ``OUT/plan.html``."""
    from .report import render

    result = compute(design, source, context)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "plan.csv") as fh:
        result.table.loc[:, list(PLAN_COLUMNS)].to_csv(fh, index=False)
    with atomic_write(out / "plan.html") as fh:
        fh.write(render(result, source))
    return result

"""Plan an MSC co-culture experiment: power of ``analyze``'s verdicts by design.

:func:`plan` simulates readouts for donors x MSC ratios x replicates x events
per tube x endpoints and reports the probability that ``analyze`` calls each
planted effect concordant, with the false-call rate under no effect.
:func:`run` also writes ``plan.csv`` and ``plan.html``.

The package is callable: ``msclab.plan(...)`` is :func:`msclab.plan.plan`.
"""

from __future__ import annotations

import sys
import types

from .design import PlanDesign
from .power import PLAN_COLUMNS, recommend
from .run import plan, run


class _CallablePackage(types.ModuleType):
    """Lets ``msclab.plan(...)`` call :func:`plan` although ``msclab.plan`` is this package."""

    def __call__(self, *args, **kwargs):
        return plan(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = ["PLAN_COLUMNS", "PlanDesign", "plan", "recommend", "run"]

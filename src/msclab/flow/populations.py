"""Population statistics of a gated sample: counts, frequencies and marker intensities.

Frequencies are percentages (0-100) of the parent gate and of all events in
the file (``msc_catalogue.md`` §3.3: "always report the parent gate").
Intensities (median and mean) are of the compensated, untransformed values,
the scale FlowJo and FCS Express report MFIs on.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .protocols.resolve import ResolvedSample
from .protocols.schema import ROOT

#: Columns of :func:`population_table` (``populations.csv`` keeps these names).
POPULATION_COLUMNS = ("sample_id", "population", "name", "parent", "count", "parent_count", "pct_parent",
                      "pct_total")


def population_table(sample: ResolvedSample) -> pd.DataFrame:
    """Return one row per population of a resolved sample.

    Columns are :data:`POPULATION_COLUMNS`; ``population`` and ``parent`` are
    full gate paths (``root`` for a top-level gate), ``name`` the gate's own
    name. A parent without events gives NaN percentages.
    """
    n_total = sample.events.n_events
    rows = []
    for name in sample.ids:
        pop = sample.tree.populations[sample.ids[name]]
        parent_name = _name_of(sample, pop.parent)
        count = int(sample.membership[name].sum())
        parent_count = n_total if parent_name == ROOT else int(sample.membership[parent_name].sum())
        rows.append({
            "sample_id": sample.events.sample_id,
            "population": sample.path(name),
            "name": name,
            "parent": ROOT if parent_name == ROOT else sample.path(parent_name),
            "count": count,
            "parent_count": parent_count,
            "pct_parent": 100.0 * count / parent_count if parent_count else np.nan,
            "pct_total": 100.0 * count / n_total if n_total else np.nan,
        })
    return pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))


def _name_of(sample: ResolvedSample, pop_id: str | None) -> str:
    if pop_id is None:
        return ROOT
    return next(name for name, pid in sample.ids.items() if pid == pop_id)


def marker_statistics(sample: ResolvedSample, population: str, markers: Iterable[str]) -> dict[str, dict[str, float]]:
    """Return ``{marker: {"median": ..., "mean": ...}}`` of a population's compensated intensities.

    Parameters
    ----------
    sample
        The resolved sample.
    population
        Population name.
    markers
        Marker names (alternatives ``"A|B"`` allowed); the key is the name as given.
    """
    mask = sample.membership[population]
    out = {}
    for marker in markers:
        values = sample.events.linear(sample.events.channel(marker))[mask]
        values = values[np.isfinite(values)]
        out[marker] = {"median": float(np.median(values)) if len(values) else np.nan,
                       "mean": float(np.mean(values)) if len(values) else np.nan}
    return out

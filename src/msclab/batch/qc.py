"""Cross-plate QC: Levey-Jennings charts of controls and standard curves, with Westgard 1-2s/1-3s flags.

Every experiment (plate) of a batch contributes points: the mean frequency of
each reported flow population in each kind of control sample
(``unstimulated``, ``fmo FoxP3``...) and every standard-curve parameter,
LLOQ and ULOQ per analyte. Each series is plotted in run order against its
centre and ±2 / ±3 SD limits (Levey & Jennings, Am J Clin Pathol
1950;20:1059-66) and every point is flagged with the Westgard single-rule
checks: ``1-2s`` (warning, beyond 2 SD) and ``1-3s`` (reject, beyond 3 SD)
(Westgard, Barry, Hunt & Groth, Clin Chem 1981;27:493-501).

The limits come from the batch itself, robustly: the median and 1.4826 x MAD
(the normal-consistent SD), so that one bad plate cannot widen its own
limits; when the MAD is 0 the plain SD is used. Series with fewer than
:data:`MIN_POINTS` points get no limits or flags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Fewest points a series needs for limits and flags.
MIN_POINTS = 3

COLUMNS = ["series", "source", "control", "readout", "parameter", "plate", "point", "order", "value", "n",
           "center", "sd", "z", "flag"]


def _points(plates: Sequence[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    rows = []
    for order, (plate, qc) in enumerate(plates):
        controls = pd.DataFrame(qc.get("controls", []), columns=["control", "sample_id", "readout", "value"])
        for (control, readout), grp in controls.groupby(["control", "readout"], sort=False):
            rows.append({"series": f"{control} | {readout}", "source": "flow", "control": control,
                         "readout": readout, "parameter": "pct_parent", "plate": plate, "point": plate,
                         "order": order, "value": float(grp["value"].mean())})
        for curve in qc.get("curves", []):
            params = curve["params"]
            params = json.loads(params) if isinstance(params, str) and params else (params or {})
            values = {**{k: v for k, v in params.items() if isinstance(v, int | float)},
                      "lloq": curve.get("lloq"), "uloq": curve.get("uloq")}
            for name, value in values.items():
                if value is None or not np.isfinite(float(value)):
                    continue
                rows.append({"series": f"{curve['analyte']} curve | {name}", "source": "curve", "control": "",
                             "readout": curve["analyte"], "parameter": name, "plate": plate,
                             "point": f"{plate}/{curve['plate']}", "order": order, "value": float(value)})
    return pd.DataFrame(rows, columns=COLUMNS[:9])


def _limits(values: np.ndarray) -> tuple[float, float]:
    center = float(np.median(values))
    sd = 1.4826 * float(np.median(np.abs(values - center)))
    if sd == 0.0:
        sd = float(np.std(values, ddof=1))
    return center, sd


def flag(z: float) -> str:
    """Westgard single-rule flag of a standardised value: ``1-3s``, ``1-2s`` or ``ok`` (``""`` if no limits)."""
    if not np.isfinite(z):
        return ""
    return "1-3s" if abs(z) > 3 else "1-2s" if abs(z) > 2 else "ok"


def levey_jennings(plates: Sequence[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """The Levey-Jennings table of a batch.

    Parameters
    ----------
    plates
        ``(plate name, QC record)`` in run order; the record is what
        :func:`msclab.batch.assemble.control_qc` returns.

    Returns
    -------
    pandas.DataFrame
        One row per series and point: :data:`COLUMNS` (``z`` in SD from the
        centre, ``flag`` ``ok``/``1-2s``/``1-3s``, empty without limits).
    """
    points = _points(plates)
    parts = []
    for _, grp in points.groupby("series", sort=False):
        values = grp["value"].to_numpy(dtype=float)
        center, sd = _limits(values) if len(values) >= MIN_POINTS else (np.nan, np.nan)
        z = (values - center) / sd if sd and np.isfinite(sd) and sd > 0 else np.full(len(values), np.nan)
        parts.append(grp.assign(n=len(values), center=center, sd=sd, z=z, flag=[flag(v) for v in z]))
    return pd.concat(parts, ignore_index=True)[COLUMNS] if parts else pd.DataFrame(columns=COLUMNS)

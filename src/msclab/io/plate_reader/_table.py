"""Build the tidy :class:`~msclab.io.assay_export.AssayExport` table from records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from msclab.io.assay_export import OPTIONAL_COLUMNS, REQUIRED_COLUMNS


def tidy_table(records: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """One DataFrame with the required columns first, then the optional ones present.

    Optional columns that are empty in every record are left out; ``signal``,
    ``expected_concentration``, ``dilution``, ``wavelength``, ``bead_count``
    and ``vendor_concentration`` are float.
    """
    frame = pd.DataFrame.from_records(list(records))
    for column in REQUIRED_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=float if column == "signal" else object)
    optional = [c for c in OPTIONAL_COLUMNS if c in frame and frame[c].notna().any()]
    frame = frame[list(REQUIRED_COLUMNS) + optional].copy()
    for column in ("signal", "expected_concentration", "dilution", "wavelength", "bead_count",
                   "vendor_concentration"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("plate", "well", "analyte"):
        frame[column] = frame[column].astype(str)
    return frame.reset_index(drop=True)

"""Dual-wavelength correction: measurement wavelength minus reference wavelength.

ELISA plates are read at the chromogen's wavelength (450 nm for TMB) and at a
reference wavelength (540-650 nm) where the chromogen does not absorb; the
difference removes scratches, fingerprints and plastic. Every plate reader in
msclab uses these two functions so that the correction is the same for all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from msclab.errors import AssayFileError
from msclab.io.plate_reader._wells import format_wavelength

_KEYS = ["plate", "well", "analyte"]


def choose_reference(wavelengths: Iterable[float]) -> float | None:
    """The reference wavelength a plate implies: the longer of exactly two, else None."""
    distinct = sorted({w for w in wavelengths if not math.isnan(w)})
    return distinct[-1] if len(distinct) == 2 else None


def subtract_reference(
    table: pd.DataFrame, reference: Mapping[str, float], path: Path
) -> tuple[pd.DataFrame, list[str]]:
    """Replace each plate's wavelength reads by ``read - reference read``.

    Parameters
    ----------
    table
        Tidy table with ``wavelength`` and ``read`` columns.
    reference
        Plate id -> reference wavelength (nm). Plates not listed are unchanged.
    path
        The file, for error messages.

    Returns
    -------
    table, leniencies
        The corrected table (the reference rows removed; ``read`` becomes
        ``"450-570"``, ``wavelength`` stays the measurement wavelength,
        ``vendor_flag`` joins both wells' flags) and one sentence per plate
        describing the correction.

    Raises
    ------
    AssayFileError
        When a plate has no read at the requested reference wavelength, or
        no other wavelength to correct.
    """
    notes: list[str] = []
    parts = [table[~table["plate"].isin(list(reference))]]
    for plate, ref in reference.items():
        rows = table[table["plate"] == plate]
        is_ref = rows["wavelength"] == ref
        measures = rows[rows["wavelength"].notna() & ~is_ref]
        if not is_ref.any() or measures.empty:
            found = sorted(set(rows["wavelength"].dropna()))
            raise AssayFileError(
                f"plate {plate} has no read at the reference wavelength {format_wavelength(ref)} nm "
                f"and another wavelength to correct (wavelengths read: "
                f"{', '.join(format_wavelength(w) for w in found) or 'none'})",
                file=path,
                hint="Name an existing reference wavelength, or pass reference=None to keep raw reads.",
            )
        ref_rows = rows.loc[is_ref, _KEYS + ["signal"] + (["vendor_flag"] if "vendor_flag" in rows else [])]
        ref_rows = ref_rows.rename(columns={"signal": "_ref_signal", "vendor_flag": "_ref_flag"})
        merged = measures.merge(ref_rows, on=_KEYS, how="left")
        merged["signal"] = merged["signal"] - merged["_ref_signal"]
        merged["read"] = [f"{format_wavelength(w)}-{format_wavelength(ref)}" for w in merged["wavelength"]]
        if "_ref_flag" in merged:
            merged["vendor_flag"] = [
                "; ".join(str(f) for f in (a, b) if isinstance(f, str) and f) or None
                for a, b in zip(merged["vendor_flag"], merged["_ref_flag"])
            ]
        merged = merged.drop(columns=[c for c in ("_ref_signal", "_ref_flag") if c in merged])
        others = rows[rows["wavelength"].isna()]
        parts.extend([merged, others])
        notes.append(
            f"plate {plate}: reference wavelength {format_wavelength(ref)} nm subtracted from "
            + ", ".join(f"{format_wavelength(w)} nm" for w in sorted(set(measures["wavelength"])))
        )
    result = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    return result[list(table.columns)], notes


def correct_plates(
    table: pd.DataFrame,
    reference: float | str | None,
    path: Path,
    declared: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Apply the reference-wavelength policy every plate reader shares.

    Parameters
    ----------
    table
        Tidy table of one export.
    reference
        ``"auto"``: a plate's declared reference (``declared``), else the
        longer of exactly two wavelengths read on it; a number: that
        wavelength on every plate with wavelength reads; None: no correction.
    path
        The file, for error messages.
    declared
        Plate id -> reference wavelength the file itself names.

    Returns
    -------
    table, leniencies
        See :func:`subtract_reference`.
    """
    if reference is None or "wavelength" not in table:
        return table, []
    chosen: dict[str, float] = {}
    for plate, rows in table.groupby("plate", sort=False):
        if rows["wavelength"].isna().all():
            continue
        if reference == "auto":
            ref = (declared or {}).get(str(plate), choose_reference(rows["wavelength"]))
        else:
            ref = float(reference)
        if ref is not None:
            chosen[str(plate)] = ref
    if not chosen:
        return table, []
    return subtract_reference(table, chosen, path)

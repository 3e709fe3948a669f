"""The spillover matrix an FCS file carries, from whichever keyword holds it.

FCS 3.1 (section 3.2.18) defines ``$SPILLOVER``: ``n,name_1,...,name_n,s_11,
s_12,...,s_nn``, rows being the fluorochrome's primary detector and columns the
detectors it spills into (row-major, diagonal 1). Older writers use the same
format under ``SPILL`` (BD FACSDiva, Stratedigm) or ``$SPILL``. Beckman
Coulter writes one keyword per pair, ``$DFCmTOn`` = percent of the signal of
detector ``FLm`` found in detector ``FLn``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...errors import FCSError
from ._text import whole_number

#: Keywords holding a full ``$SPILLOVER``-format matrix, in order of preference.
#: ``SPILLOVER`` is how FlowIO/FlowKit name ``$SPILLOVER`` after dropping the ``$``.
SPILLOVER_KEYWORDS = ("$SPILLOVER", "SPILL", "$SPILL", "SPILLOVER")
#: Most detectors a spillover matrix may have: far above any cytometer's (spectral ones have under 200). It
#: bounds the dense matrix built from the sparse ``$DFCmTOn`` keywords.
MAX_DETECTORS = 1000
_DFC = re.compile(r"^(\$?)DFC([0-9]{1,9})TO([0-9]{1,9})$", re.IGNORECASE)
_PNN = re.compile(r"^\$?P(\d+)N$", re.IGNORECASE)
_FL = re.compile(r"^FL([0-9]{1,9})(\D|$)", re.IGNORECASE)


def spillover_from_metadata(metadata: Mapping[str, str]) -> tuple[pd.DataFrame, str] | None:
    """The spillover matrix of an FCS data set and the keyword it came from.

    Parameters
    ----------
    metadata
        TEXT keywords of one data set. Keys are matched case-insensitively,
        so msclab's (``$SPILLOVER``), FlowIO's and FlowKit's (``spillover``,
        ``spill``) keyword dictionaries all work.

    Returns
    -------
    tuple of (pandas.DataFrame, str) or None
        The detectors x detectors spillover matrix (rows: the detector a
        fluorochrome is measured in; columns: detectors; diagonal 1) and the
        keyword as spelled in ``metadata``; for Beckman files the keyword is
        given as the family ``$DFCmTOn``. ``None`` when no keyword is present.
        For ``$DFCmTOn`` the detectors are named ``FLm``, or the ``$PnN`` of
        the one channel measuring that detector when there is exactly one.

    Raises
    ------
    FCSError
        When a spillover keyword is present but malformed (wrong count of
        values, non-numeric entries, repeated detector names).
    """
    by_upper = {key.upper(): key for key in metadata}
    for name in SPILLOVER_KEYWORDS:
        key = by_upper.get(name)
        if key is not None and str(metadata[key]).strip():
            return _parse_matrix(str(metadata[key]), key), key
    return _beckman_matrix(metadata)


def _parse_matrix(text: str, key: str) -> pd.DataFrame:
    fields = [f.strip() for f in text.strip().strip(",").split(",")]
    where = f"keyword {key}"
    hint = "Compensate with a matrix from a file instead (the keyword is unusable)."
    n = whole_number(fields[0])
    if not n:
        raise FCSError(f"{key} must start with the number of detectors, not {fields[0]!r}", where=where, hint=hint)
    if len(fields) != 1 + n + n * n:
        raise FCSError(f"{key} declares {n} detectors, so it needs {1 + n + n * n} comma-separated fields, "
                       f"but has {len(fields)}", where=where, hint=hint)
    names = fields[1:1 + n]
    if len(set(names)) != n:
        raise FCSError(f"{key} repeats a detector name", where=where, hint=hint)
    try:
        values = np.array([float(v) for v in fields[1 + n:]], dtype=np.float64).reshape(n, n)
    except ValueError as exc:
        raise FCSError(f"{key} holds a value that is not a number ({exc})", where=where, hint=hint) from None
    return pd.DataFrame(values, index=pd.Index(names), columns=pd.Index(names))


def _beckman_matrix(metadata: Mapping[str, str]) -> tuple[pd.DataFrame, str] | None:
    pairs: dict[tuple[int, int], float] = {}
    prefix = "$"
    for key, value in metadata.items():
        match = _DFC.match(key)
        if not match:
            continue
        prefix = match.group(1)
        try:
            pairs[int(match.group(2)), int(match.group(3))] = float(str(value).strip())
        except ValueError:
            raise FCSError(f"{key} is {value!r}, not a percentage", where=f"keyword {key}",
                           hint="Compensate with a matrix from a file instead.") from None
    if not pairs:
        return None
    detectors = sorted({d for pair in pairs for d in pair})
    keyword = f"{prefix}DFCmTOn" if prefix else "DFCmTOn"
    if len(detectors) > MAX_DETECTORS:
        raise FCSError(f"the {keyword} keywords name {len(detectors)} detectors, more than the {MAX_DETECTORS} a "
                       "spillover matrix may have", where=f"keyword {keyword}",
                       hint="Compensate with a matrix from a file instead.")
    matrix = np.eye(len(detectors))
    for (source, target), percent in pairs.items():
        if source != target:
            matrix[detectors.index(source), detectors.index(target)] = percent / 100.0
    names = _detector_channels(metadata, detectors)
    return pd.DataFrame(matrix, index=pd.Index(names), columns=pd.Index(names)), keyword


def _detector_channels(metadata: Mapping[str, str], detectors: list[int]) -> list[str]:
    """``$PnN`` of the one channel measuring each detector ``FL<d>`` (such as ``FL1-H``), else ``FL<d>``."""
    measuring: dict[int, list[str]] = {}
    for key, value in metadata.items():
        match = _FL.match(str(value).strip()) if _PNN.match(key) else None
        if match:
            measuring.setdefault(int(match.group(1)), []).append(str(value).strip())
    return [names[0] if len(names := measuring.get(d, [])) == 1 else f"FL{d}" for d in detectors]

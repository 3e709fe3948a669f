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

#: Keywords holding a full ``$SPILLOVER``-format matrix, in order of preference.
#: ``SPILLOVER`` is how FlowIO/FlowKit name ``$SPILLOVER`` after dropping the ``$``.
SPILLOVER_KEYWORDS = ("$SPILLOVER", "SPILL", "$SPILL", "SPILLOVER")
_DFC = re.compile(r"^(\$?)DFC(\d+)TO(\d+)$", re.IGNORECASE)
_PNN = re.compile(r"^\$?P(\d+)N$", re.IGNORECASE)


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
    if not fields[0].isdigit() or int(fields[0]) < 1:
        raise FCSError(f"{key} must start with the number of detectors, not {fields[0]!r}", where=where, hint=hint)
    n = int(fields[0])
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
    matrix = np.eye(len(detectors))
    for (source, target), percent in pairs.items():
        if source != target:
            matrix[detectors.index(source), detectors.index(target)] = percent / 100.0
    names = [_detector_channel(metadata, d) for d in detectors]
    keyword = f"{prefix}DFCmTOn" if prefix else "DFCmTOn"
    return pd.DataFrame(matrix, index=pd.Index(names), columns=pd.Index(names)), keyword


def _detector_channel(metadata: Mapping[str, str], detector: int) -> str:
    """``$PnN`` of the one channel measuring detector ``FL<detector>``, else ``FL<detector>``."""
    pattern = re.compile(rf"^FL{detector}(\D|$)", re.IGNORECASE)
    names = [str(v).strip() for k, v in metadata.items() if _PNN.match(k) and pattern.match(str(v).strip())]
    return names[0] if len(names) == 1 else f"FL{detector}"

"""The samplesheet: one row per acquired file (or per assay-only sample).

A culture stained with two panels has two rows with the same ``sample_id``
(one per panel); its supernatant on an ELISA plate is found by that
``sample_id`` in the plate layout. Columns (``required`` marked):

========================  ==================================================
column                    meaning
========================  ==================================================
sample_id (required)      the culture / biological sample
file                      FCS file, relative to the samplesheet
panel                     panel name from ``experiment.yaml`` (required with a file)
plate, well               where the sample sat (``A1`` .. ``H12`` on a 96-well plate)
donor (required)          responder (PBMC) donor
condition (required)      e.g. ``PBMC``, ``PBMC+MSC``, ``unstimulated``
msc_ratio                 MSC:PBMC as ``1:10``; empty without MSCs
stimulus                  e.g. ``PMA/ionomycin``, ``anti-CD3/CD28``, ``none``
culture                   ``contact`` or ``transwell``
msc_source                tissue and donor type, e.g. ``BM``, ``UC``, ``BM-SLE``
msc_licensing             ``none``, ``IFN-g``, ``IFN-g+TNF`` ...
timepoint                 e.g. ``72h``
replicate                 technical replicate number
control_type              empty, ``fmo``, ``unstained``, ``single_stain``,
                          ``unstimulated``, ``isotype`` or ``bridge``
control_for               the marker an FMO leaves out / a single stain stains
========================  ==================================================
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import MsclabError

REQUIRED_COLUMNS = ("sample_id", "donor", "condition")
OPTIONAL_COLUMNS = (
    "file", "panel", "plate", "well", "msc_ratio", "stimulus", "culture", "msc_source",
    "msc_licensing", "timepoint", "replicate", "control_type", "control_for",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: Columns that describe the sample, so they must agree across its rows.
SAMPLE_COLUMNS = (
    "donor", "condition", "msc_ratio", "stimulus", "culture", "msc_source", "msc_licensing",
    "timepoint", "replicate", "control_type", "control_for",
)
TODO = "TODO"
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


def parse_ratio(text: str) -> float | None:
    """Return MSC:PBMC ``"1:10"`` as the fraction 0.1; None for an empty cell.

    Raises
    ------
    ValueError
        If the text is not of the form ``a:b`` with positive numbers.
    """
    if text is None or str(text).strip() == "":
        return None
    match = _RATIO.match(str(text))
    if not match or float(match.group(2)) == 0:
        raise ValueError(f"{text!r} is not a ratio like 1:10")
    return float(match.group(1)) / float(match.group(2))


def read_samplesheet(path: Path) -> pd.DataFrame:
    """Read a samplesheet (CSV, semicolon CSV from Excel, or XLSX) as strings.

    Every cell is a string (empty for blank cells); a ``_line`` column keeps
    the line number in the file (header = line 1) for messages.

    Raises
    ------
    MsclabError
        If the file is missing or not a table.
    """
    if not path.is_file():
        raise MsclabError("the samplesheet does not exist", file=path,
                          hint="Check the 'samplesheet:' path in experiment.yaml (relative to it).")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            table = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python",
                                encoding="utf-8-sig", skip_blank_lines=True, comment=None)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MsclabError(f"cannot be read as a table ({exc})", file=path,
                          hint="Save it as CSV (comma or semicolon) or XLSX with one header row.") from exc
    table.columns = [str(c).strip().lower().replace(" ", "_") for c in table.columns]
    table = table.apply(lambda col: col.str.strip())
    table = table.loc[~(table == "").all(axis=1)].copy()
    table["_line"] = table.index + 2
    for column in OPTIONAL_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    return table.reset_index(drop=True)

"""The tidy table every cytokine-assay reader returns.

Plate readers, Luminex xPONENT, Bio-Plex Manager and bead arrays read on a
cytometer all end in one shape, :class:`AssayExport`, so that standard-curve
fitting never needs to know which instrument wrote the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Columns every reader fills.
REQUIRED_COLUMNS = ("plate", "well", "analyte", "signal")

#: Columns a reader or a plate layout may add (same names everywhere).
OPTIONAL_COLUMNS = (
    "sample_type",        # standard / blank / control / qc / unknown
    "sample_id",
    "level",              # standard level name (e.g. "S1")
    "expected_concentration",  # nominal concentration of standards / QCs
    "dilution",           # dilution factor of the sample (1 = neat)
    "wavelength",         # nm, plate readers
    "read",               # read name when a file holds several reads
    "bead_count",         # multiplex bead count per well
    "vendor_concentration",  # the instrument software's own result, when exported
    "vendor_flag",        # the instrument software's own flag ("OOR <", "< x", "***" ...)
    "replicate_wells",    # "C1,D1" when the export gives one row (the mean) for replicate wells
)

SAMPLE_TYPES = ("standard", "blank", "control", "qc", "unknown")


@dataclass
class AssayExport:
    """One assay export as a tidy table plus what the file said about itself.

    Attributes
    ----------
    table
        One row per plate x well x analyte (x read): at least
        :data:`REQUIRED_COLUMNS`, optionally any of :data:`OPTIONAL_COLUMNS`.
        ``signal`` is float (NaN where the instrument gave no number; the
        reason is in ``vendor_flag``).
    path
        The file read.
    format
        The reader that read it (``"gen5"``, ``"softmax_pro"``, ``"xponent"``, ...).
    metadata
        What the file states about itself (instrument, protocol, units,
        vendor curve coefficients, ...).
    leniencies
        Every leniency applied while reading, in words (for provenance).
    """

    table: pd.DataFrame
    path: Path
    format: str
    metadata: dict[str, Any] = field(default_factory=dict)
    leniencies: list[str] = field(default_factory=list)

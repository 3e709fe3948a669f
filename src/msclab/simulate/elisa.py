"""Simulated sandwich-ELISA plates: standards, blanks and samples in duplicate.

Signals follow a four-parameter logistic (4PL) of concentration, the model the
field uses for immunoassay calibration, with a proportional and an additive
noise term, read at 450 nm with a 570 nm reference read. Plates are written in
msclab's generic grid format (``docs/assay_readers.md``) with a long-format
layout file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write
from ..experiment.plate import PLATE_FORMATS


@dataclass(frozen=True)
class ElisaKit:
    """An analyte's kit: top standard, dilution of samples, and its 4PL response.

    ``signal = d + (a - d) / (1 + (x / c) ** b)``, with ``a`` the zero-dose
    optical density and ``d`` the plateau.
    """

    analyte: str
    top_standard: float
    sample_dilution: float
    a: float = 0.05
    b: float = 1.3
    c_fraction: float = 0.35  # EC50 as a fraction of the top standard
    d: float = 3.2
    levels: int = 7
    step: float = 2.0

    @property
    def c(self) -> float:
        """EC50 (same unit as the standards)."""
        return self.c_fraction * self.top_standard

    def standards(self) -> np.ndarray:
        """Standard concentrations, top first (two-fold series)."""
        return self.top_standard / self.step ** np.arange(self.levels)

    def signal(self, concentration: np.ndarray) -> np.ndarray:
        """Noise-free optical density at ``concentration``."""
        x = np.asarray(concentration, dtype=float)
        return self.d + (self.a - self.d) / (1.0 + (x / self.c) ** self.b)


#: Kits of the simulated study; sample dilutions bring typical stimulated supernatants into range.
KITS = {
    "IFN-g": ElisaKit("IFN-g", top_standard=1000.0, sample_dilution=10.0),
    "TNF-a": ElisaKit("TNF-a", top_standard=1000.0, sample_dilution=5.0),
    "IL-17A": ElisaKit("IL-17A", top_standard=500.0, sample_dilution=1.0),
    "IL-10": ElisaKit("IL-10", top_standard=1000.0, sample_dilution=2.0),
}

_CV, _SD, _REFERENCE = 0.03, 0.004, 0.045
_SAMPLES_PER_PLATE = 40  # columns 3-12 x rows A-H, in duplicate pairs


def plate_wells(kit: ElisaKit, sample_ids: list[str], plate_id: str) -> pd.DataFrame:
    """Lay out one plate: standards in columns 1-2 (top in row A, blank in row H), samples in pairs."""
    rows = "ABCDEFGH"
    layout = []
    for i, conc in enumerate(kit.standards()):
        for col in (1, 2):
            layout.append((plate_id, f"{rows[i]}{col}", "standard", "", f"S{i + 1}", conc, 1.0))
    for col in (1, 2):
        layout.append((plate_id, f"H{col}", "blank", "", "", 0.0, 1.0))
    for k, sample_id in enumerate(sample_ids):
        row, pair = rows[k % 8], k // 8
        for col in (3 + 2 * pair, 4 + 2 * pair):
            layout.append((plate_id, f"{row}{col}", "unknown", sample_id, "", np.nan, kit.sample_dilution))
    return pd.DataFrame(layout, columns=["plate", "well", "sample_type", "sample_id", "level",
                                         "expected_concentration", "dilution"])


def simulate_plates(kit: ElisaKit, concentrations: dict[str, float], rng: np.random.Generator,
                    prefix: str) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Simulate the plates an analyte needs for the given culture concentrations.

    Returns
    -------
    layout
        Long layout of every plate (plate, well, sample_type, sample_id, level,
        expected_concentration, dilution) plus ``true_concentration`` in the well.
    reads
        plate id -> {"450": 8x12 array, "570": 8x12 array}.
    """
    ids = list(concentrations)
    chunks = [ids[i:i + _SAMPLES_PER_PLATE] for i in range(0, len(ids), _SAMPLES_PER_PLATE)] or [[]]
    layouts, reads = [], {}
    fmt = PLATE_FORMATS[96]
    for k, chunk in enumerate(chunks, start=1):
        plate_id = f"{prefix}_plate{k}"
        layout = plate_wells(kit, chunk, plate_id)
        in_well = layout["expected_concentration"].to_numpy(copy=True)
        unknown = layout["sample_type"] == "unknown"
        in_well[unknown.to_numpy()] = [concentrations[s] / kit.sample_dilution for s in layout.loc[unknown, "sample_id"]]
        layout["true_concentration"] = in_well
        od = kit.signal(in_well)
        od = od * (1 + _CV * rng.standard_normal(len(od))) + _SD * rng.standard_normal(len(od))
        reference = _REFERENCE + 0.003 * rng.standard_normal(fmt.n_wells)
        grid450 = np.full(fmt.n_wells, np.nan)
        wells = fmt.wells()
        index = [wells.index(w) for w in layout["well"]]
        grid450[index] = od + reference[index]
        grid570 = np.where(np.isnan(grid450), np.nan, reference)
        reads[plate_id] = {"450": grid450.reshape(8, 12), "570": grid570.reshape(8, 12)}
        layouts.append(layout)
    return pd.concat(layouts, ignore_index=True), reads


def _grid(out: io.StringIO, name: str, cells: dict[str, str]) -> None:
    out.write(f"{name}," + ",".join(str(c) for c in range(1, 13)) + "\n")
    for letter in "ABCDEFGH":
        out.write(letter + "," + ",".join(cells.get(f"{letter}{c}", "") for c in range(1, 13)) + "\n")
    out.write("\n")


def write_grid(path: Path, plate_id: str, analyte: str, reads: dict[str, np.ndarray]) -> None:
    """Write one plate in msclab's generic grid CSV format (450 nm read, 570 nm reference)."""
    wells = PLATE_FORMATS[96].wells()
    out = io.StringIO()
    out.write(f"Plate,{plate_id}\nAnalyte,{analyte}\nReference,570\n")
    for read, grid in reads.items():
        out.write(f"Read,{read}\n")
        values = grid.ravel()
        _grid(out, "", {w: f"{v:.4f}" for w, v in zip(wells, values, strict=True) if not np.isnan(v)})
    with atomic_write(path, newline="") as handle:
        handle.write(out.getvalue())


def write_layout(path: Path, kit: ElisaKit, layout: pd.DataFrame, unit: str = "pg/mL") -> None:
    """Write one plate's layout as a plate-shaped grid (docs/assay_readers.md, "Plate layouts")."""
    codes = {}
    for row in layout.itertuples():
        codes[row.well] = {"standard": f"STD{row.level[1:]}" if row.level else "", "blank": "BLK"}.get(
            row.sample_type, row.sample_id)
    dilutions = {r.well: f"{r.dilution:g}" for r in layout.itertuples() if r.sample_type == "unknown"}
    out = io.StringIO()
    out.write(f"Plate,{layout['plate'].iloc[0]}\nTop concentration,{kit.top_standard:g}\n"
              f"Dilution factor,{kit.step:g}\nUnit,{unit}\n")
    _grid(out, "", codes)
    _grid(out, "dilution", dilutions)
    with atomic_write(path, newline="") as handle:
        handle.write(out.getvalue())

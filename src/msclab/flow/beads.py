"""Bead-based multiplex assays read on a cytometer (LEGENDplex, CBA).

LEGENDplex beads come in groups of different size (forward/side scatter);
inside a group each bead ID has its own classifier intensity (APC); the
analyte signal is the reporter (PE) on the bead. The pipeline:

1. **Bead groups**: a Gaussian mixture on log FSC-A/SSC-A with two extra
   components for debris and doublets; the ``n`` tightest components are the
   bead groups, named in order of forward scatter (A smaller than B). Events
   outside the 95 % ellipse of their group are left out.
2. **Bead IDs**: per group, a kernel density of log classifier intensity;
   its ``k`` most prominent peaks (``k`` = beads of that group in the panel)
   are the bead IDs in order of intensity; events are assigned between the
   density minima separating neighbouring peaks.
3. **Signal**: the median reporter intensity per bead (the vendor's
   statistic), with the event count.

A panel is a YAML file (``protocols/legendplex/*.yaml``): groups -> bead ID ->
analyte and top standard concentration, the standard dilution fold and level
names, and the unit. :func:`bead_export` turns a set of FCS files with their
plate positions into an :class:`~msclab.io.assay_export.AssayExport` for
:func:`msclab.assay.quantification.quantify`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.signal import find_peaks
from scipy.stats import chi2, gaussian_kde
from sklearn.mixture import GaussianMixture

from .._parallel import one_thread
from ..errors import MsclabError
from ..experiment.plate import normalise_well, parse_well
from ..io import read_fcs
from ..io.assay_export import AssayExport

#: Extra scatter mixture components that absorb debris and doublets.
NOISE_COMPONENTS = 2
#: Events kept per bead group: inside this probability ellipse.
GROUP_ELLIPSE = 0.95
#: Bandwidth (Scott factor) of the classifier density.
KDE_BANDWIDTH = 0.03


@dataclass
class BeadPanel:
    """A bead-array panel definition.

    Attributes
    ----------
    name, unit
        Panel name and concentration unit.
    beads
        One row per bead: ``group, bead, analyte, top_concentration``, in
        group order then classifier order.
    standard_fold
        Dilution fold between consecutive standards.
    standard_levels
        Standard level names from the top standard down.
    blank_level
        Name of the blank level.
    """

    name: str
    unit: str
    beads: pd.DataFrame
    standard_fold: float
    standard_levels: list[str]
    blank_level: str

    @property
    def groups(self) -> list[str]:
        """Bead groups in size order."""
        return list(dict.fromkeys(self.beads["group"]))

    def standard_concentration(self, analyte: str, level: str) -> float:
        """Nominal concentration of ``analyte`` in standard ``level`` (0 for the blank)."""
        if level == self.blank_level:
            return 0.0
        top = float(self.beads.loc[self.beads["analyte"] == analyte, "top_concentration"].iloc[0])
        return top / self.standard_fold ** self.standard_levels.index(level)


def load_panel(path: str | PathLike[str]) -> BeadPanel:
    """Read a panel YAML file."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        rows = [
            {"group": group, "bead": bead, "analyte": info["analyte"], "top_concentration": float(info["top_concentration"])}
            for group, beads in spec["groups"].items()
            for bead, info in beads.items()
        ]
        return BeadPanel(
            name=spec["name"], unit=spec.get("unit", ""), beads=pd.DataFrame(rows),
            standard_fold=float(spec["standard_fold"]), standard_levels=list(spec["standard_levels"]),
            blank_level=spec.get("blank_level", "C0"),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise MsclabError(f"cannot read the bead panel ({exc})", file=path,
                          hint="See protocols/legendplex/ for the expected layout.") from exc


def _log(values: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(np.asarray(values, dtype=float), 1.0, None))


def bead_groups(events: pd.DataFrame, groups: list[str], scatter: tuple[str, str] = ("FSC-A", "SSC-A"),
                seed: int = 0) -> pd.Series:
    """Bead group of every event (empty string outside every group)."""
    xy = _log(events[list(scatter)].to_numpy())
    n = len(groups)
    with one_thread():  # BLAS threads only slow a mixture of a few thousand 2-D points
        gmm = GaussianMixture(n + NOISE_COMPONENTS, random_state=seed, n_init=3).fit(xy)
    label = gmm.predict(xy)
    size = np.array([np.linalg.det(c) for c in gmm.covariances_])
    tight = np.argsort(size)[:n]
    tight = tight[np.argsort(gmm.means_[tight, 0])]
    out = np.full(len(events), "", dtype=object)
    limit = chi2.ppf(GROUP_ELLIPSE, 2)
    for name, comp in zip(groups, tight):
        d = xy - gmm.means_[comp]
        dist = np.einsum("ij,jk,ik->i", d, np.linalg.inv(gmm.covariances_[comp]), d)
        out[(label == comp) & (dist < limit)] = name
    return pd.Series(out, index=events.index, name="group")


def bead_ids(classifier: np.ndarray, ids: list[str]) -> tuple[np.ndarray, float]:
    """Bead ID of every event of one group from its classifier intensities.

    Returns
    -------
    labels
        Bead ID per event ('' between or beyond the bead peaks).
    separation
        Smallest prominence of the chosen peaks over the largest of the
        others (> 1: the panel's beads stand clearly above anything else).
    """
    x = _log(classifier)
    k = len(ids)
    labels = np.full(x.size, "", dtype=object)
    if x.size < 2 * k or np.ptp(x) == 0:
        return labels, 0.0
    grid = np.linspace(x.min(), x.max(), 2000)
    density = gaussian_kde(x, bw_method=KDE_BANDWIDTH)(grid)
    peaks, props = find_peaks(density, prominence=0)
    if peaks.size < k:
        return labels, 0.0
    order = np.argsort(props["prominences"])[::-1]
    chosen = np.sort(peaks[order[:k]])
    rest = props["prominences"][order[k:]]
    separation = float(props["prominences"][order[k - 1]] / rest.max()) if rest.size else float("inf")
    valleys = [grid[a + np.argmin(density[a:b])] for a, b in zip(chosen[:-1], chosen[1:])]
    centre = grid[chosen]
    gaps = np.diff(centre) if k > 1 else np.array([0.5])
    edges = np.r_[centre[0] - gaps[0] / 2, valleys, centre[-1] + gaps[-1] / 2]
    bins = np.digitize(x, edges) - 1
    inside = (bins >= 0) & (bins < k)
    labels[inside] = np.asarray(ids, dtype=object)[bins[inside]]
    return labels, separation


def identify_beads(events: pd.DataFrame, panel: BeadPanel, *, classifier: str = "FL6-H",
                   scatter: tuple[str, str] = ("FSC-A", "SSC-A"), seed: int = 0) -> tuple[pd.DataFrame, dict[str, float]]:
    """Label every event with its bead group and bead ID.

    Returns the events with ``group`` and ``bead`` columns, and the peak
    separation per group (see :func:`bead_ids`).
    """
    out = events.copy()
    out["group"] = bead_groups(events, panel.groups, scatter, seed)
    out["bead"] = ""
    separation = {}
    for group in panel.groups:
        ids = list(panel.beads.loc[panel.beads["group"] == group, "bead"])
        sel = out["group"] == group
        out.loc[sel, "bead"], separation[group] = bead_ids(out.loc[sel, classifier].to_numpy(), ids)
    return out, separation


def bead_signals(labelled: pd.DataFrame, panel: BeadPanel, reporter: str = "FL2-H") -> pd.DataFrame:
    """Median reporter intensity and event count per bead of the panel."""
    rows = []
    for bead in panel.beads.itertuples(index=False):
        values = labelled.loc[labelled["bead"] == bead.bead, reporter].to_numpy(dtype=float)
        rows.append({"group": bead.group, "bead": bead.bead, "analyte": bead.analyte, "bead_count": values.size,
                     "signal": float(np.median(values)) if values.size else np.nan})
    return pd.DataFrame(rows)


def read_bead_events(path: str | PathLike[str]) -> pd.DataFrame:
    """Events of an FCS file as a DataFrame (columns = channel names)."""
    adata = read_fcs(path)
    return pd.DataFrame(np.asarray(adata.X), columns=list(adata.var_names))


def bead_export(files: Mapping[str | PathLike[str], Mapping[str, object]], panel: BeadPanel, *,
                classifier: str = "FL6-H", reporter: str = "FL2-H", plate: str = "plate_1") -> AssayExport:
    """Build an assay export from one FCS file per well.

    Parameters
    ----------
    files
        FCS path -> ``{"well": ..., "sample_type": ..., "sample_id": ...,
        "level": ..., "dilution": ...}``; standards need ``level`` (a panel
        level name, or the blank level).
    panel
        The bead panel.
    classifier, reporter
        Channel names of the bead-ID and the analyte signal.
    plate
        Plate name for every well.
    """
    rows, leniencies = [], []
    for path, info in files.items():
        labelled, separation = identify_beads(read_bead_events(path), panel, classifier=classifier)
        for group, sep in separation.items():
            if sep <= 1.0:
                leniencies.append(f"{Path(path).name}: bead group {group} peaks not clearly separated ({sep:.2f})")
        for sig in bead_signals(labelled, panel, reporter).itertuples(index=False):
            level = str(info.get("level", "") or "")
            sample_type = str(info.get("sample_type", "unknown"))
            expected = panel.standard_concentration(sig.analyte, level) if sample_type in ("standard", "blank") and level else np.nan
            rows.append({
                "plate": plate, "well": info.get("well", Path(path).stem), "analyte": sig.analyte,
                "signal": sig.signal, "sample_type": sample_type, "sample_id": info.get("sample_id", ""),
                "level": level, "expected_concentration": expected, "dilution": float(info.get("dilution", 1.0)),
                "bead_count": sig.bead_count, "unit": panel.unit,
            })
    return AssayExport(table=pd.DataFrame(rows), path=Path(next(iter(files))) if files else Path("."),
                       format="bead_fcs", metadata={"panel": panel.name, "unit": panel.unit}, leniencies=leniencies)


#: FCS keywords that name a well, most specific first (FCS 3.2 ``$LOCATIONID``, then common vendor keywords).
_WELL_KEYWORDS = ("$LOCATIONID", "$WELLID", "WELL ID", "WELL_ID")
_FCS_SUFFIXES = {".fcs", ".lmd"}


def _parse_name(name: str, panel: BeadPanel) -> tuple[str | None, str | None, str]:
    """Standard level, well and sample named in a file name (``K2-C07-A7`` -> ``C7``, ``A7``, ``K2-C07``).

    Level names (``C0``..``C7``) look like well names, so the level is the
    first token equal to a panel level (leading zeros ignored) and the well
    is the last other token that is a well name; the sample is the name
    without that well token (``S1_B1`` -> ``S1``).
    """
    levels = {_squash_zeros(level): level for level in [*panel.standard_levels, panel.blank_level]}
    tokens = [t for t in re.split(r"[_\-\s.]+", name) if t]
    level_token = next((t for t in tokens if _squash_zeros(t) in levels), None)
    wells = [t for t in tokens if t is not level_token and parse_well(t) is not None]
    sample = name
    if wells:
        cut = name.rfind(wells[-1])
        sample = (name[:cut].rstrip("_- .") + name[cut + len(wells[-1]):]).strip("_- .") or name
    return (levels[_squash_zeros(level_token)] if level_token else None,
            normalise_well(wells[-1]) if wells else None, sample)


def _squash_zeros(token: str) -> str:
    """``C07`` -> ``c7``: upper/lower case and leading zeros of the number ignored."""
    match = re.fullmatch(r"([A-Za-z]+)0*(\d+)", token)
    return f"{match.group(1).lower()}{match.group(2)}" if match else token.lower()


def read_bead_plate(source: str | PathLike[str], panel: BeadPanel | str | PathLike[str], *,
                    plate: str | None = None, classifier: str = "FL6-H", reporter: str = "FL2-H") -> AssayExport:
    """Read a bead-array plate: one FCS file per well, in a folder (or one file).

    Each file's well comes from its ``$LOCATIONID``/``$WELLID`` keyword, else
    from a well name in the file name; its sample from ``$SRC``, else the file
    name without the well. A sample named like one of the panel's standard levels (``C7`` ..
    ``C1``, blank ``C0``; LEGENDplex's convention) is a standard of that level,
    with its concentration from the panel; every other file is an unknown
    sample. A plate layout (:func:`msclab.io.layout.apply_layout`) can then
    set sample ids and dilutions.

    Parameters
    ----------
    source
        Folder of FCS files (or one FCS file).
    panel
        The bead panel or its YAML path.
    plate
        Plate name (default: the folder's name).
    classifier, reporter
        Channel names of the bead-ID dye and the analyte signal.

    Raises
    ------
    MsclabError
        No FCS file, or a well named twice.
    """
    from ..io.fcs import open_fcs

    source = Path(source)
    panel = panel if isinstance(panel, BeadPanel) else load_panel(panel)
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in _FCS_SUFFIXES) if source.is_dir() else [source]
    if not files:
        raise MsclabError("has no FCS files", file=source, hint="Give the folder the cytometer exported the plate to.")
    info, seen = {}, {}
    for path in files:
        keywords = open_fcs(path).keywords
        level, well_in_name, sample = _parse_name(path.stem, panel)
        sample = keywords.get("$SRC", "").strip() or sample
        well = next((keywords[k].strip() for k in _WELL_KEYWORDS if keywords.get(k, "").strip()), None)
        well = (normalise_well(well) or well) if well else well_in_name or path.stem
        if well in seen:
            raise MsclabError(f"well {well} is named by two files ({seen[well].name} and {path.name})", file=source,
                              hint="Give each well's file its own $WELLID or a well name in its file name.")
        seen[well] = path
        sample_type = "unknown" if level is None else ("blank" if level == panel.blank_level else "standard")
        info[path] = {"well": well, "sample_id": sample if level is None else "", "level": level or "",
                      "sample_type": sample_type}
    return bead_export(info, panel, classifier=classifier, reporter=reporter, plate=plate or source.stem)

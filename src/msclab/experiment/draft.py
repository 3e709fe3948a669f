"""Draft ``experiment.yaml`` + ``samplesheet.csv`` from a folder of instrument files.

What the files state is filled in: plate and well from ``$CARRIERID`` /
``$LOCATIONID`` (FCS 3.2), ``$PLATEID``/``$PLATENAME`` and ``$WELLID``, or the
file name; the plate from the sub-folder when no keyword names it; the sample
from ``$SRC``, ``$FIL`` or the file name (made unique); panels from the
``$PnS`` markers. Detectors without a ``$PnS`` marker are drafted with a
``TODO`` marker; scatter, time and other non-fluorescence channels never are.
What only the scientist knows (donor, condition, ratio, stimulus) is left as
clearly marked ``TODO`` cells.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..errors import MsclabError
from .plate import find_well, normalise_well
from .samplesheet import COLUMNS, TODO

FCS_SUFFIXES = {".fcs", ".lmd"}
ASSAY_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls"}
_FMO_IN_NAME = re.compile(r"fmo[\s_\-]*([A-Za-z0-9\-\+]+)", re.IGNORECASE)
_PANEL_GUESSES = (  # marker (lower case, no punctuation) -> protocol name
    ("foxp3", "treg"), ("ifng", "th_ics"), ("il17a", "th_ics"), ("cxcr5", "tfh"), ("cd19", "b_cells"),
    ("cd56", "nk"), ("cd1a", "dc"), ("cd11c", "dc"), ("cd206", "macrophage"), ("cd105", "msc_identity"),
)
_SCATTER = re.compile(r"^(FSC|SSC|Time|Event|Width|Height)", re.IGNORECASE)
_PLATE_KEYWORDS = ("$CARRIERID", "$PLATEID", "$PLATENAME", "PLATE NAME", "PLATE ID")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("γ", "g"))


def _first(keywords: dict[str, str], *names: str) -> str:
    for name in names:
        value = keywords.get(name, "").strip()
        if value:
            return value
    return ""


def _panel_name(markers: dict[str, str], taken: set[str]) -> tuple[str, str]:
    squashed = {_squash(m) for m in markers.values()}
    protocol = next((p for key, p in _PANEL_GUESSES if key in squashed), "")
    base = protocol or "panel"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name, protocol


def draft_markers(channels: pd.DataFrame) -> dict[str, str]:
    """A panel's ``markers:`` (detector -> marker) from a file's channel table.

    Parameters
    ----------
    channels
        Index: detector (``$PnN``); columns ``marker`` (``$PnS``, may be empty)
        and ``type`` (``scatter``, ``fluorescence``, ``time``, ``other``).

    Returns
    -------
    dict
        The fluorescence detectors with their ``$PnS`` marker (a ``$PnS``
        that only repeats the detector name is none). A file that names no
        marker at all gets every fluorescence detector with a ``TODO`` marker
        naming it (of a height/width/area set only the area, ``-A``, detector).
        Scatter, time and other channels are never markers.
    """
    fluor = channels[(channels["type"] == "fluorescence") & ~channels.index.to_series().str.match(_SCATTER).to_numpy()]
    names = set(fluor.index)
    named = {d: str(m or "").strip() for d, m in fluor["marker"].items()}
    named = {d: m for d, m in named.items() if m and m != d}
    if named:
        return named
    markers: dict[str, str] = {}
    for detector in fluor.index:
        base = re.sub(r"[-_ ]?[HW]$", "", detector)
        if base != detector and any(n in names for n in (f"{base}-A", f"{base}_A", f"{base} A", f"{base}A")):
            continue  # the area detector stands for this one
        markers[detector] = f"{TODO}: marker measured in {detector}, or remove this line"
    return markers


def draft_experiment(
    folder: Path, out: Path, read_channels: Callable[[Path], tuple[dict[str, str], pd.DataFrame]],
) -> tuple[dict, pd.DataFrame]:
    """Draft a manifest and a samplesheet for the files under ``folder``.

    Parameters
    ----------
    folder
        Folder with FCS files and assay exports (searched recursively).
    out
        Where the drafts will be written (paths are made relative to it).
    read_channels
        ``path -> (keywords, channels)`` for one FCS file; ``channels`` as in
        :func:`draft_markers`.

    Returns
    -------
    manifest, samplesheet
    """
    fcs_files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in FCS_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not fcs_files:
        raise MsclabError("has no FCS files (.fcs or .lmd)", file=folder,
                          hint="Point 'msclab init' at the folder your cytometer exported to.")
    panels: dict[frozenset, tuple[str, str, dict[str, str]]] = {}
    rows = []
    folders = {path.parent for path in fcs_files}
    for path in fcs_files:
        keywords, channels = read_channels(path)
        markers = draft_markers(channels)
        key = frozenset(markers.items())
        if key not in panels:
            name, protocol = _panel_name(markers, {v[0] for v in panels.values()})
            panels[key] = (name, protocol, markers)
        panel = panels[key][0]
        stem = path.stem
        sample_id = _first(keywords, "$SRC", "$FIL") or stem
        sample_id = Path(sample_id).stem if sample_id.lower().endswith(tuple(FCS_SUFFIXES)) else sample_id
        well = _first(keywords, "$LOCATIONID", "$WELLID", "WELL ID", "WELL_ID")
        if not well:
            well = find_well(stem) or ""
        fmo = _FMO_IN_NAME.search(stem)
        control_for = ""
        if fmo:
            wanted = _squash(fmo.group(1))
            control_for = next((m for m in markers.values() if _squash(m) == wanted), TODO)
        rows.append({
            "sample_id": sample_id,
            "file": os.path.relpath(path, out),
            "panel": panel,
            "plate": _first(keywords, *_PLATE_KEYWORDS) or (_folder_plate(path, folder) if len(folders) > 1 else ""),
            "well": (normalise_well(well) or well) if well else "",
            "donor": TODO,
            "condition": TODO,
            "msc_ratio": TODO,
            "stimulus": TODO,
            "culture": "",
            "msc_source": "",
            "msc_licensing": "",
            "timepoint": TODO,
            "replicate": "",
            "control_type": "fmo" if fmo else ("unstimulated" if re.search(r"unstim", stem, re.I) else ""),
            "control_for": control_for,
        })
    sheet = pd.DataFrame(rows, columns=list(COLUMNS))
    stems = pd.Series([p.stem for p in fcs_files])
    repeated = sheet.duplicated(["plate", "sample_id", "panel"], keep=False)
    sheet.loc[repeated, "sample_id"] = stems[repeated]  # a $SRC shared by a plate's tubes of a panel names no sample
    sheet["sample_id"] = _unique_ids(sheet)
    manifest = {
        "name": f"{TODO}: name of the study ({folder.name})",
        "samplesheet": "samplesheet.csv",
        "context": "in_vitro_human",
        "plate_format": 384 if sheet["well"].map(_beyond_96).any() else 96,
        "panels": {
            name: {"markers": markers, "protocol": protocol or f"{TODO}: a protocol name or file",
                   "controls": draft_controls(sheet[sheet["panel"] == name], markers)}
            for name, protocol, markers in panels.values()
        },
        "assays": _draft_assays(folder, out, set(fcs_files)),
        "contrasts": [{
            "name": "msc_vs_control",
            "treatment": {"condition": f"{TODO}: condition of MSC co-cultures, e.g. PBMC+MSC"},
            "control": {"condition": f"{TODO}: condition of the matched controls, e.g. PBMC"},
            "pair_by": "donor",
            "match_on": ["stimulus", "timepoint"],
        }],
    }
    return manifest, sheet


def _folder_plate(path: Path, folder: Path) -> str:
    """The plate of a file in a plate sub-folder: its folder path below ``folder``."""
    parts = path.parent.relative_to(folder).parts
    return "/".join(parts) if parts else folder.name


def _unique_ids(sheet: pd.DataFrame) -> list[str]:
    """Sample ids unique per panel: a repeated id gets its plate in front, then ``_2``, ``_3``...

    One sample may have a tube in each panel (same id); two tubes of one panel
    are two samples.
    """
    repeated = sheet.duplicated(["sample_id", "panel"], keep=False)
    ids = [f"{plate.replace('/', '_')}_{sid}" if again and plate else sid
           for sid, plate, again in zip(sheet["sample_id"], sheet["plate"], repeated, strict=True)]
    seen: dict[tuple[str, str], int] = {}
    taken = set(zip(ids, sheet["panel"], strict=True))
    unique = []
    for sid, panel in zip(ids, sheet["panel"], strict=True):
        seen[sid, panel] = seen.get((sid, panel), 0) + 1
        new, k = sid, seen[sid, panel]
        while k > 1 and (new, panel) in taken:
            new = f"{sid}_{k}"
            k += 1
        taken.add((new, panel))
        unique.append(new)
    return unique


#: Cytokine markers, whose positive gates are set from the donor's unstimulated tube.
_CYTOKINE = re.compile(r"^(IFN|IL[\s\-_]?\d|TNF|GM[\s\-_]?CSF|TGF|MIP|CCL|CXCL)", re.IGNORECASE)


def draft_controls(rows: pd.DataFrame, markers: dict[str, str]) -> dict[str, str]:
    """A panel's ``controls:`` from the control tubes found for it.

    Every marker with an FMO tube gets ``fmo``; when the panel has unstimulated
    tubes, every cytokine marker gets ``unstimulated`` (the intracellular
    cytokine SOP sets cytokine-positive gates on the unstimulated sample of the
    same donor: Lamoreaux, Betts & Roederer 2006, Nat Protoc 1:1507,
    doi:10.1038/nprot.2006.268; FMOs for markers without a negative population:
    Roederer 2001, Cytometry 45:194, doi:10.1002/1097-0320(20011101)45:3<194::AID-CYTO1163>3.0.CO;2-C).
    """
    controls: dict[str, str] = {}
    for marker in rows.loc[rows["control_type"] == "fmo", "control_for"]:
        if marker and marker != TODO:
            controls[marker] = "fmo"
    if (rows["control_type"] == "unstimulated").any():
        for marker in markers.values():
            if _CYTOKINE.match(marker) and marker not in controls:
                controls[marker] = "unstimulated"
    return controls


def _beyond_96(well: str) -> bool:
    from .plate import PLATE_FORMATS

    return bool(well) and not PLATE_FORMATS[96].contains(well)


def _draft_assays(folder: Path, out: Path, skip: set[Path]) -> list[dict]:
    """List plate-reader/multiplex exports, pairing ``X_layout.csv`` with ``X.csv``."""
    candidates = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in ASSAY_SUFFIXES
                        and p not in skip and p.name not in ("samplesheet.csv",)
                        and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    layouts = {p for p in candidates if "layout" in p.stem.lower()}
    assays = []
    for path in candidates:
        if path in layouts:
            continue
        layout = next((lay for lay in layouts if lay.stem.lower().replace("_layout", "").replace("layout", "").strip("_-")
                       == path.stem.lower()), None)
        assays.append({
            "id": re.sub(r"[^A-Za-z0-9_]+", "_", path.stem),
            "file": os.path.relpath(path, out),
            "format": "auto",
            "layout": os.path.relpath(layout, out) if layout else f"{TODO}: plate layout file, or remove this line",
            "analyte": f"{TODO}: analyte (single-analyte ELISA), or remove this line",
            "unit": "pg/mL",
        })
    return assays

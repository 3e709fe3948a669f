"""What the review page shows and saves: density images of every sample x gate, and overrides.

:class:`ReviewStudy` reads an ``analyze`` or ``batch`` output folder (its
``provenance.json`` names the experiment and every resolved gate file), gates
each sample with its current tree (the override if there is one) and bins the
parent population's events of every gate's two dimensions into a small 2-D
histogram in the gate's (transformed) coordinates. Saving a gate edit writes the
sample's whole tree with that gate changed to
``gates/overrides/<panel>/<sample_id>.xml`` beside ``experiment.yaml``.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MsclabError
from ..flow.gating.engine import Events, _Values, gate_events
from ..flow.gating.gates import BooleanGate, EllipsoidGate, PolygonGate, QuadrantGate, RectangleGate
from ..flow.gating.gatingml import read_gatingml, write_gatingml
from ..flow.overrides import find_override_files, override_path
from ..flow.gating.tree import GateTree
from ..flow.protocols.sample import safe_id

_SUPERSCRIPT = str.maketrans("0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b")
#: Bins per axis of a density image.
BINS = 64
#: Transforms whose axes get decade ticks (10^k in data units).
_LOG_LIKE = {"Logicle", "Log", "Asinh", "Hyperlog", "FlowJoLog", "FlowJoBiex"}


class ReviewStudy:
    """An analysis output folder opened for review.

    Parameters
    ----------
    out
        An ``analyze`` or ``batch`` output folder (with ``provenance.json``).

    Raises
    ------
    MsclabError
        No provenance, no resolved gates, or the experiment cannot be read.
    """

    def __init__(self, out: str | Path) -> None:
        from ..experiment import read_experiment

        self.out = Path(out).resolve()
        prov_path = self.out / "provenance.json"
        if not prov_path.is_file():
            raise MsclabError("not an analyze or batch output folder (no provenance.json)", file=self.out,
                              hint="Give the folder msclab analyze or msclab batch wrote.")
        prov = json.loads(prov_path.read_text(encoding="utf-8"))
        self.resolved: dict[str, dict[str, Path]] = {
            panel: {sid: self._out_path(p) for sid, p in files.items()}
            for panel, files in prov.get("steps", {}).get("resolved_gates", {}).items()}
        if not self.resolved:
            raise MsclabError("the output folder has no resolved gates (provenance steps.resolved_gates)",
                              file=prov_path, hint="Run msclab analyze on an experiment with flow panels.")
        self.experiment = read_experiment(prov["parameters"]["experiment"])
        self.root = self.experiment.root.resolve()
        self.populations = _read_csv(self.out / "populations.csv")
        self.gate_qc = _read_csv(self.out / "gate_qc.csv")
        self._lock = threading.Lock()

    def _out_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.out / p

    @property
    def panels(self) -> list[str]:
        """Panels with resolved gates."""
        return list(self.resolved)

    def overridden(self, panel: str) -> set[str]:
        """Sample ids of ``panel`` that have an override file."""
        return {sid for p, sid, _ in find_override_files(self.root) if p == panel}

    def tree(self, panel: str, sample_id: str) -> tuple[GateTree, bool]:
        """The sample's current tree (its override if any) and whether it is an override."""
        path = override_path(self.root, panel, sample_id)
        if path.is_file():
            return read_gatingml(path), True
        try:
            return read_gatingml(self.resolved[panel][sample_id]), False
        except KeyError:
            raise MsclabError(f"no resolved gates for sample {sample_id!r} in panel {panel!r}",
                              hint="Pick a sample and panel the analysis gated.") from None

    def _events(self, panel: str, sample_id: str) -> Events:
        from ..io import open_fcs

        rows = self.experiment.files(panel)
        rows = rows[rows["sample_id"] == sample_id]
        if rows.empty:
            raise MsclabError(f"sample {sample_id!r} has no FCS file in panel {panel!r}")
        path = Path(rows["file"].iloc[0])
        return Events.from_fcs(open_fcs(path if path.is_absolute() else self.root / path), sample_id)

    def panel_cards(self, panel: str) -> dict[str, Any]:
        """Every sample x gate of a panel: density, gate shape, axes, frequency and confidence.

        Returns
        -------
        dict
            ``panel``, ``gate_qc`` (whether ``gate_qc.csv`` exists) and
            ``cards`` (one dict per sample and drawable gate).
        """
        if panel not in self.resolved:
            raise MsclabError(f"unknown panel {panel!r}", hint=f"Panels: {', '.join(self.panels)}.")
        cards = []
        groups = self._groups()
        for sid in self.resolved[panel]:
            tree, is_override = self.tree(panel, sid)
            events = self._events(panel, sid)
            result = gate_events(tree, events)
            values = _Values(tree, events)
            for pid in tree.order():
                pop = tree.populations[pid]
                if isinstance(pop.gate, BooleanGate):
                    continue
                rows = (np.arange(events.data.shape[0]) if pop.parent is None
                        else np.flatnonzero(result.membership[pop.parent]))
                dims = pop.gate.dimensions
                data = [values(d, rows, pop.parent) for d in dims[:2]]
                parent_n = len(rows)
                count = int(result.membership[pid].sum())
                cards.append({
                    "sample_id": sid, "group": groups.get(sid, ""), "gate": pid, "name": pop.name,
                    "path": tree.path(pid), "override": is_override,
                    "count": count, "parent_count": parent_n,
                    "pct_parent": 100.0 * count / parent_n if parent_n else None,
                    **_shape(pop), **_density(data, pop, tree),
                    **self._confidence(panel, sid, pop),
                })
        _median_distance(cards)
        return {"panel": panel, "gate_qc": self.gate_qc is not None, "cards": cards}

    def _groups(self) -> dict[str, str]:
        sheet = self.experiment.samples
        cols = [c for c in ("condition", "msc_ratio", "stimulus", "control_type") if c in sheet]
        return {sid: " ".join(str(v) for v in row if str(v) not in ("", "nan")) for sid, row in
                zip(sheet["sample_id"], sheet[cols].itertuples(index=False))}

    def _confidence(self, panel: str, sid: str, pop) -> dict[str, Any]:
        if self.gate_qc is None:
            return {"confidence": None, "flag": "", "reason": ""}
        qc = self.gate_qc
        hit = qc[(qc["sample_id"].astype(str) == sid) & (qc["panel"].astype(str) == panel)
                 & qc["gate"].astype(str).map(lambda g: any(part in (pop.id, pop.name) or safe_id(part) == pop.id
                                                           for part in (g, *g.split(","))))]
        if hit.empty:
            return {"confidence": None, "flag": "", "reason": ""}
        row = hit.iloc[0]
        conf = pd.to_numeric(pd.Series([row.get("confidence")]), errors="coerce").iloc[0]
        return {"confidence": None if pd.isna(conf) else float(conf),
                "flag": "" if pd.isna(row.get("flag")) else str(row.get("flag")),
                "reason": "" if pd.isna(row.get("reason")) else str(row.get("reason"))}

    def save(self, panel: str, gate: str, sample_ids: list[str], shape: dict[str, Any]) -> list[Path]:
        """Write overrides: ``gate`` of each sample set to ``shape``, the rest of its tree kept.

        ``shape`` is ``{"type": "rectangle", "bounds": [[lo, hi], ...]}`` or
        ``{"type": "polygon", "vertices": [[x, y], ...]}`` in gate coordinates.
        """
        if panel not in self.resolved:
            raise MsclabError(f"unknown panel {panel!r}")
        written = []
        with self._lock:
            for sid in sample_ids:
                tree, _ = self.tree(panel, sid)
                if gate not in tree.populations:
                    raise MsclabError(f"sample {sid!r} has no gate {gate!r}")
                pop = tree.populations[gate]
                tree.populations[gate] = replace(pop, gate=_new_gate(pop.gate, shape))
                tree.validate()
                path = override_path(self.root, panel, sid)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_gatingml(tree, path)
                written.append(path)
        return written


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, dtype={"sample_id": str}) if path.is_file() else None


def _new_gate(old, shape: dict[str, Any]):
    kind = shape.get("type")
    if kind == "rectangle" and isinstance(old, RectangleGate):
        bounds = tuple((None if lo is None else float(lo), None if hi is None else float(hi))
                       for lo, hi in shape["bounds"])
        if len(bounds) != len(old.dimensions):
            raise MsclabError("rectangle bounds do not match the gate's dimensions")
        return replace(old, bounds=bounds)
    if kind == "polygon" and isinstance(old, PolygonGate):
        vertices = tuple((float(x), float(y)) for x, y in shape["vertices"])
        if len(vertices) < 3:
            raise MsclabError("a polygon needs at least 3 vertices")
        return replace(old, vertices=vertices)
    raise MsclabError(f"cannot change a {type(old).__name__} with a {kind!r} edit",
                      hint="Rectangles and polygons can be edited; other shapes are shown only.")


def _shape(pop) -> dict[str, Any]:
    gate = pop.gate
    if isinstance(gate, QuadrantGate):
        gate = pop.shape
        return {"type": "quadrant", "editable": False,
                "bounds": [list(b) for b in gate.bounds], "quadrant": pop.quadrant}
    if isinstance(gate, RectangleGate):
        return {"type": "rectangle", "editable": not gate.complement, "bounds": [list(b) for b in gate.bounds]}
    if isinstance(gate, PolygonGate):
        return {"type": "polygon", "editable": not gate.complement, "vertices": [list(v) for v in gate.vertices]}
    if isinstance(gate, EllipsoidGate) and len(gate.dimensions) == 2:
        return {"type": "ellipse", "editable": False, "mean": list(gate.mean),
                "covariance": [list(r) for r in gate.covariance], "distance_square": gate.distance_square}
    return {"type": "other", "editable": False}


def _density(data: list[np.ndarray], pop, tree: GateTree) -> dict[str, Any]:
    """Histogram of the gate's (first two) dimensions, axis ranges and data-unit ticks."""
    dims = pop.gate.dimensions
    coords = _gate_coordinates(pop)
    axes, edges = [], []
    for k, values in enumerate(data):
        finite = values[np.isfinite(values)]
        lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
        extra = [c[k] for c in coords if k < len(c) and c[k] is not None]
        lo, hi = min([lo, *extra]), max([hi, *extra])
        pad = (hi - lo) * 0.05 or 0.5
        lo, hi = float(lo - pad), float(hi + pad)
        xform = tree.transforms.get(dims[k].transform) if dims[k].transform else None
        axes.append({"label": dims[k].name, "min": lo, "max": hi, "ticks": _ticks(xform, lo, hi)})
        edges.append(np.linspace(lo, hi, BINS + 1))
    # off-scale events pile up in the edge bins (as on a cytometer's plot) instead of vanishing
    finite = np.logical_and.reduce([np.isfinite(v) for v in data])
    data = [np.clip(v[finite], e[0], e[-1]) for v, e in zip(data, edges)]
    if len(data) == 1:
        hist, _ = np.histogram(data[0], bins=edges[0])
        grid = hist[None, :]
    else:
        grid, _, _ = np.histogram2d(data[0], data[1], bins=edges)
        grid = grid.T  # rows = y bins
    return {"axes": axes, "density": grid.astype(int).tolist()}


def _gate_coordinates(pop) -> list[tuple]:
    shape = pop.shape
    if isinstance(shape, RectangleGate):
        return [tuple(b[0] for b in shape.bounds), tuple(b[1] for b in shape.bounds)]
    if isinstance(shape, PolygonGate):
        return list(shape.vertices)
    if isinstance(shape, EllipsoidGate):  # the ellipse's bounding box
        half = np.sqrt(shape.distance_square * np.diag(np.asarray(shape.covariance, dtype=float)))
        return [tuple(np.asarray(shape.mean) - half), tuple(np.asarray(shape.mean) + half)]
    return []


def _ticks(xform, lo: float, hi: float) -> list[list]:
    """Tick positions (gate coordinates) labelled in data units: decades on log-like scales."""
    if xform is None:
        step = _nice_step((hi - lo) / 5)
        return [[v, _fmt(v)] for v in np.arange(math.ceil(lo / step) * step, hi, step)]
    log_like = type(xform).__name__ in _LOG_LIKE
    candidates = [0.0] + [s * 10.0 ** k for k in range(0, 8) for s in (1, -1)] if log_like else []
    if not log_like:
        top = float(getattr(xform, "T", 262144.0))
        step = _nice_step(top / 8)
        candidates = [step * k for k in range(-10, 21)]
    with np.errstate(all="ignore"):
        pos = np.asarray(xform.apply(np.asarray(candidates, dtype=float)), dtype=float)
    inside = [(float(p), v) for p, v in zip(pos, candidates) if np.isfinite(p) and lo <= p <= hi]
    inside.sort(key=lambda t: (t[1] != 0, -abs(t[1])))  # keep 0 and the largest values first
    kept: list[list] = []
    for p, v in inside:
        if all(abs(p - q) >= 0.06 * (hi - lo) for q, _ in kept):
            kept.append([p, _fmt(v, decades=log_like)])
    return sorted(kept)


def _nice_step(raw: float) -> float:
    if raw <= 0 or not np.isfinite(raw):
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _fmt(value: float, decades: bool = False) -> str:
    v = float(value)
    if v == 0:
        return "0"
    k = math.log10(abs(v))
    if decades and abs(k - round(k)) < 1e-9 and abs(v) >= 10:
        return f"{'-' if v < 0 else ''}10{str(int(round(k))).translate(_SUPERSCRIPT)}"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:.3g}"


def _median_distance(cards: list[dict[str, Any]]) -> None:
    """Add ``median_distance``: |pct_parent - median of the same gate in the sample's group| (pp)."""
    frame = pd.DataFrame([{"gate": c["gate"], "group": c["group"], "pct": c["pct_parent"]} for c in cards])
    if frame.empty:
        return
    medians = frame.groupby(["gate", "group"])["pct"].transform("median")
    for card, med in zip(cards, medians):
        card["median_distance"] = (None if card["pct_parent"] is None or pd.isna(med)
                                   else abs(card["pct_parent"] - float(med)))

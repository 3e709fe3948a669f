"""Name clusters from marker rules, with a confidence, and map them to catalogue effects.

The rules (``rules.yaml`` beside this module, one table per gating protocol
plus the lineage rules of every protocol) say which level of each marker a
population has (``+``, ``-``, ``hi``, ``lo``). Levels are read against cuts
set on the pooled events of each marker, independently of the gates:

- the negative peak is the lowest local maximum of the marker's density with
  at least a tenth of the highest peak's height; its spread is the SD of the
  events below it (the half of the negative peak that positive events cannot
  reach), and the positive cut is the peak plus three such SDs (the
  "negative population + 3 SD" rule of marker positivity; Maecker & Trotter,
  Cytometry A 2006;69:1037-1042 discuss cuts set on the negative population);
- ``hi`` is above the median of the positive events (the brighter half);
- ``lo`` is at or below the expressing peak minus three SDs of its upper
  half, the expressing peak being the highest-intensity density peak with at
  least a tenth of the highest peak's height (dim or negative: lower than the
  main population that expresses the marker, as CD127 on Tregs against
  conventional T cells; Liu et al., J Exp Med 2006;203:1701-1711). It needs
  no negative population, so it holds for markers most parent events express.

``+`` and ``-`` need a negative population among the parent events: for a
marker every parent event expresses (CD3 on T cells) the lowest peak is the
positive one, and a rule should not use ``+``/``-`` of such a marker.

A cluster takes the most specific rule its median satisfies (most markers;
ties: the order of the table). Its confidence is the fraction of its events
that satisfy every level of that rule one by one: 1 when the whole cluster is
the population, low when the median only just passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from ..flow.channels import normalise_marker

#: Name of clusters no rule matches.
UNASSIGNED = "unassigned"
#: SDs of the negative peak's lower half above its mode that make an event positive.
POSITIVE_SDS = 3.0


@dataclass(frozen=True)
class Rule:
    """A named population by marker levels."""

    name: str
    markers: dict[str, str]
    reference: str
    catalogue_id: str = ""


@dataclass
class MarkerCuts:
    """Per marker: the positive cut, the median and the lower quartile of positive events (gating scale)."""

    positive: dict[str, float] = field(default_factory=dict)
    bright: dict[str, float] = field(default_factory=dict)
    dim: dict[str, float] = field(default_factory=dict)

    def satisfies(self, marker: str, level: str, values: np.ndarray) -> np.ndarray:
        """Boolean: which values have ``level`` of ``marker``."""
        if level == "+":
            return values > self.positive[marker]
        if level == "-":
            return values <= self.positive[marker]
        if level == "hi":
            return values > self.bright[marker]
        if level == "lo":
            return values <= self.dim[marker]
        raise ValueError(f"unknown marker level {level!r} (use +, -, hi or lo)")


def load_rules(protocol: str | None) -> list[Rule]:
    """The rules of a protocol: the lineage rules of every protocol, then the protocol's own.

    ``None`` (a panel gated by a GatingML file or FlowJo workspace, no protocol
    to choose a table by) gives every table; rules naming a marker the
    clustering lacks are skipped when clusters are annotated.
    """
    text = resources.files("msclab.discovery").joinpath("rules.yaml").read_text(encoding="utf-8")
    tables = yaml.safe_load(text)
    keys = list(tables) if protocol is None else ["all", protocol]
    return [Rule(name=r["name"], markers={str(k): str(v) for k, v in r["markers"].items()},
                 reference=r["reference"], catalogue_id=r.get("catalogue_id", ""))
            for key in keys if key in tables for r in tables[key]]


def marker_cuts(values: np.ndarray, markers: list[str]) -> MarkerCuts:
    """Positive, bright and dim cuts of each marker on the pooled events (see the module docstring)."""
    cuts = MarkerCuts()
    for j, marker in enumerate(markers):
        x = np.asarray(values[:, j], dtype=float)
        peaks = _peaks(x)
        low, high = peaks[0], peaks[-1]
        cut = low + POSITIVE_SDS * _half_sd(x, low, below=True)
        positive = x[x > cut]
        cuts.positive[marker] = cut
        cuts.bright[marker] = float(np.median(positive)) if positive.size else cut
        cuts.dim[marker] = high - POSITIVE_SDS * _half_sd(x, high, below=False)
    return cuts


def _peaks(x: np.ndarray) -> list[float]:
    """Density peaks (ascending) with at least a tenth of the highest one's height."""
    lo, hi = np.percentile(x, [0.5, 99.5])
    if hi <= lo:
        return [float(np.median(x))]
    counts, edges = np.histogram(x[(x >= lo) & (x <= hi)], bins=128, range=(lo, hi))
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    density = np.convolve(counts, kernel / kernel.sum(), mode="same")
    centres = (edges[:-1] + edges[1:]) / 2
    return [float(centres[i]) for i in range(len(density))
            if density[i] >= density[max(i - 1, 0)] and density[i] >= density[min(i + 1, len(density) - 1)]
            and density[i] >= 0.1 * density.max()]


def _half_sd(x: np.ndarray, mode: float, *, below: bool) -> float:
    """SD about a peak from the events on one side of it (the side other populations reach least)."""
    side = x[x <= mode] if below else x[x >= mode]
    sd = float(np.sqrt(np.mean((side - mode) ** 2))) if side.size > 1 else float(np.std(x))
    return max(sd, 1e-6)


def _resolve(spec: str, markers: list[str]) -> str | None:
    """The clustered marker a rule's marker spec (alternatives ``a|b``) names, or None."""
    by_key = {normalise_marker(m): m for m in markers}
    return next((by_key[normalise_marker(o)] for o in spec.split("|") if normalise_marker(o) in by_key), None)


def annotate_clusters(values: np.ndarray, markers: list[str], cluster: np.ndarray, rules: list[Rule]
                      ) -> tuple[pd.DataFrame, list[str]]:
    """Name every cluster.

    Parameters
    ----------
    values
        Events x markers (gating scale).
    markers
        Marker names of the columns.
    cluster
        Cluster label of each event.
    rules
        The rules (:func:`load_rules`).

    Returns
    -------
    table
        One row per cluster (in label order): ``cluster, n_events, annotation,
        annotation_confidence, catalogue_id, rule, reference`` and the median
        of each marker (``median:<marker>``).
    skipped
        Rules skipped because the clustering lacks one of their markers.
    """
    cuts = marker_cuts(values, markers)
    usable, skipped = [], []
    for rule in rules:
        resolved = {spec: _resolve(spec, markers) for spec in rule.markers}
        if any(m is None for m in resolved.values()):
            skipped.append(rule.name)
            continue
        usable.append((rule, {resolved[s]: level for s, level in rule.markers.items()}))
    labels = pd.Series(np.asarray(cluster).astype(str))
    order = sorted(labels.unique(), key=lambda c: (len(c), c))
    rows = []
    for name in order:
        members = np.flatnonzero(labels.to_numpy() == name)
        block = values[members]
        median = np.median(block, axis=0)
        matched = [(rule, levels) for rule, levels in usable
                   if all(cuts.satisfies(m, lv, median[[markers.index(m)]])[0] for m, lv in levels.items())]
        row = {"cluster": name, "n_events": int(members.size)}
        if matched:
            best = max(range(len(matched)), key=lambda i: (len(matched[i][1]), -i))
            rule, levels = matched[best]
            ok = np.ones(members.size, dtype=bool)
            for m, lv in levels.items():
                ok &= cuts.satisfies(m, lv, block[:, markers.index(m)])
            row |= {"annotation": rule.name, "annotation_confidence": round(float(ok.mean()), 4),
                    "catalogue_id": rule.catalogue_id,
                    "rule": " ".join(f"{m}{lv}" for m, lv in levels.items()), "reference": rule.reference}
        else:
            row |= {"annotation": UNASSIGNED, "annotation_confidence": np.nan, "catalogue_id": "", "rule": "",
                    "reference": ""}
        row |= {f"median:{m}": float(v) for m, v in zip(markers, median, strict=True)}
        rows.append(row)
    return pd.DataFrame(rows), skipped

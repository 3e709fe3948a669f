"""Resolve a protocol on a set of samples: one concrete gate tree per sample.

Gates are resolved in protocol order across all samples at once, so a gate can
be fitted on the pooled events of a plate or donor (``group_by``) and a
threshold can be read from the matching control sample (FMO or unstimulated),
which has been gated through the same parents. A sample whose gate cannot be
resolved fails alone, with the reason; the others go on.

The result for each sample is a :class:`~msclab.flow.gating.GateTree` of plain
rectangle, polygon, ellipsoid and boolean gates on compensated (``FCS``) and
transformed dimensions, so it can be written as GatingML 2.0 and re-evaluated
by any engine. Each population's mask is built once, when its gate is
resolved, from the same compensated and transformed values and the same gate
shapes the gating engine evaluates; the tests re-evaluate every exported tree
with the engine and require the same events
(``tests/flow/protocols/test_simulated_study.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import MsclabError
from .. import proliferation as prolif
from ..channels import normalise_marker
from ..gating.gates import BooleanGate, Gate, PolygonGate, RectangleGate
from ..gating.tree import GateTree, Population
from . import resolvers
from .matching import match_controls
from .plan import PlannedGate, gate_plan
from .sample import SampleEvents, safe_id
from .schema import (
    ROOT, BooleanSpec, ClusterGate, DividedGate, GateSpec, PolygonSpec, Protocol, QuadrantSpec, RectangleSpec,
    SingletsGate, Threshold, ThresholdGate, gate_label,
)


@dataclass
class ResolvedSample:
    """One sample gated by a protocol.

    Attributes
    ----------
    events
        The sample's events.
    tree
        The concrete gate tree (exportable as GatingML).
    membership
        Population name -> boolean mask over events (including ancestors),
        built once when the population's gate is resolved.
    gates
        Gate label -> what was resolved (method, channels, coordinates,
        controls, fit details), for provenance.
    proliferation
        Parent population name -> dye-dilution fit (``divided`` gates).
    ids
        Population name -> its XML-safe id in ``tree``.
    skipped
        Gate label -> why it was skipped (optional gate whose markers the
        panel lacks, or a gate below one).
    """

    events: SampleEvents
    tree: GateTree
    membership: dict[str, np.ndarray] = field(default_factory=dict)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    proliferation: dict[str, prolif.ProliferationFit] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def mask(self, name: str) -> np.ndarray:
        """Membership of a population name, or all events for ``root``."""
        if name == ROOT:
            return np.ones(self.events.n_events, dtype=bool)
        return self.membership[name]

    def path(self, name: str) -> str:
        """Full path of a population (``/Lymphocytes/Singlets/...``)."""
        return self.tree.path(self.ids[name])


@dataclass
class Resolution:
    """Every sample's resolved tree, and the samples that failed with their reasons."""

    samples: dict[str, ResolvedSample]
    failures: dict[str, str]


def resolve_protocol(protocol: Protocol, samples: Mapping[str, SampleEvents], *,
                     panel_controls: Mapping[str, str] | None = None) -> Resolution:
    """Resolve every gate of ``protocol`` on every sample.

    Parameters
    ----------
    protocol
        The protocol (already loaded, includes expanded).
    samples
        Sample id -> events; ``events.info`` carries ``donor``, ``plate``,
        ``control_type`` and ``control_for`` from the samplesheet.
    panel_controls
        Marker -> control type (``fmo``/``unstimulated``) of the experiment's
        panel, for thresholds with ``control: panel``.

    Returns
    -------
    Resolution
    """
    run = _Run(protocol, samples, {normalise_marker(k): v for k, v in (panel_controls or {}).items()})
    for spec in protocol.gates:
        run.resolve(spec)
    return Resolution(samples={k: v for k, v in run.resolved.items() if k not in run.failures},
                      failures=dict(run.failures))


def _share_between(values: np.ndarray, low: float, high: float) -> float:
    """Share of ``values`` between ``low`` and ``high``: how much of a population a cut moving there can move."""
    finite = values[np.isfinite(values)]
    return round(float(np.mean((finite >= low) & (finite <= high))), 6) if len(finite) else 0.0


#: Fewest cluster-gate fits worth a worker process (a fit takes about 0.1 s, a fork a few ms).
_MIN_FITS_PER_PROCESS = 2


def _fit_cluster(job: tuple[ClusterGate, tuple[np.ndarray, np.ndarray] | Exception]) -> dict[str, Any] | Exception:
    """One group's cluster-gate fit (:func:`resolvers.cluster_gate`), or the error it met (returned, not raised)."""
    spec, data = job
    if isinstance(data, Exception):
        return data
    try:
        return resolvers.cluster_gate(*data, components=spec.components, select=spec.select,
                                      min_weight=spec.min_weight, max_fraction=spec.fraction_limit)
    except (MsclabError, ValueError, np.linalg.LinAlgError) as exc:
        return exc


def _has(events: SampleEvents, marker: str) -> bool:
    try:
        events.channel(marker)
    except MsclabError:
        return False
    return True


def _keeps(spec: QuadrantSpec, axis: str) -> str:
    """The side most of a quadrant gate's populations keep on one axis (for single-peak cuts)."""
    signs = [getattr(q, axis) for q in spec.quadrants]
    return "above" if signs.count("+") >= signs.count("-") else "below"


def _cut(value: tuple[float, dict[str, Any]] | MsclabError) -> tuple[float, dict[str, Any]]:
    if isinstance(value, MsclabError):
        raise value
    return value


class _Run:
    """State of one resolution: per-sample trees and failures."""

    def __init__(self, protocol: Protocol, samples: Mapping[str, SampleEvents],
                 panel_controls: dict[str, str]) -> None:
        self.protocol = protocol
        self.panel_controls = panel_controls
        self.failures: dict[str, str] = {}
        #: Members -> the mixture fit of the cluster gate being resolved (:meth:`fit_clusters`).
        self.cluster_fits: dict[tuple[str, ...], Any] = {}
        self.resolved: dict[str, ResolvedSample] = {
            sid: ResolvedSample(events=ev, tree=GateTree(source=f"protocol {protocol.name}, sample {sid}"))
            for sid, ev in samples.items()
        }
        self.plans: dict[str, dict[str, PlannedGate]] = {
            sid: {p.gate: p for p in gate_plan(protocol, lambda m, ev=ev: _has(ev, m))} for sid, ev in samples.items()
        }
        #: Per sample: skipped ``keep_parent`` gate -> the population gated on instead.
        self.stand_in: dict[str, dict[str, str]] = {
            sid: {name: p.replaced_by for p in plan.values() if p.replaced_by for name in p.populations}
            for sid, plan in self.plans.items()
        }

    # -- bookkeeping ---------------------------------------------------------------------------
    def alive(self) -> list[str]:
        return [sid for sid in self.resolved if sid not in self.failures]

    def runs(self, spec: GateSpec) -> list[str]:
        """Alive samples that run ``spec``; the others record why it is skipped."""
        out = []
        for sid in self.alive():
            planned = self.plans[sid][gate_label(spec)]
            if planned.status == "skip":
                self.resolved[sid].skipped[planned.gate] = planned.reason
            else:
                self.resolved[sid].skipped.update({name: planned.reason for name in planned.dropped})
                out.append(sid)
        return out

    def local(self, spec: GateSpec, members: list[str]) -> list[tuple[GateSpec, list[str]]]:
        """``spec`` per group of members, its parent and operands replaced by their stand-ins.

        A skipped ``keep_parent`` gate is replaced by the population its
        plan names (its own parent), so the gates below it run there.
        """
        parts: dict[tuple[tuple[str, str], ...], tuple[GateSpec, list[str]]] = {}
        for sid in members:
            alias = self.stand_in[sid]
            update: dict[str, Any] = {}
            if spec.parent in alias:
                update["parent"] = alias[spec.parent]
            if isinstance(spec, BooleanSpec) and any(ref.lstrip("!") in alias for ref in spec.of):
                update["of"] = [("!" if ref.startswith("!") else "") + alias.get(ref.lstrip("!"), ref.lstrip("!"))
                                for ref in spec.of]
            key = tuple(sorted((k, str(v)) for k, v in update.items()))
            if key not in parts:
                parts[key] = (spec.model_copy(update=update) if update else spec, [])
            parts[key][1].append(sid)
        return list(parts.values())

    def fail(self, sid: str, spec: GateSpec, exc: Exception) -> None:
        message = exc.message if isinstance(exc, MsclabError) else str(exc)
        self.failures.setdefault(sid, f"gate {gate_label(spec)!r}: {message}")

    def groups(self, spec: GateSpec) -> list[list[str]]:
        if spec.group_by == "sample":
            return [[sid] for sid in self.runs(spec)]
        out: dict[str, list[str]] = {}
        for sid in self.runs(spec):
            key = str(self.resolved[sid].events.info.get(spec.group_by, "") or sid)
            out.setdefault(key, []).append(sid)
        return list(out.values())

    def add(self, sid: str, name: str, parent: str, gate: Gate | BooleanGate, record: dict[str, Any]) -> None:
        rs = self.resolved[sid]
        ev = rs.events
        pid = safe_id(name)
        while pid in rs.tree.populations:
            pid += "_"
        rs.ids[name] = pid
        parent_id = None if parent == ROOT else rs.ids[parent]
        self._ensure_transforms(rs, gate)
        rs.tree.add(Population(id=pid, name=name, gate=gate, parent=parent_id))
        if isinstance(gate, BooleanGate):
            names = {v: k for k, v in rs.ids.items()}
            mask = gate.combine([rs.membership[names[ref]] for ref, _ in gate.operands])
        else:
            mask = gate.contains([ev.values(d.name) for d in gate.dimensions])
        rs.membership[name] = mask & rs.mask(parent)
        entry = rs.gates.setdefault(record.pop("_label", name), record)
        entry.setdefault("populations", []).append(name)

    def _ensure_transforms(self, rs: ResolvedSample, gate: Gate | BooleanGate) -> None:
        for dim in gate.dimensions:
            if dim.transform is not None and dim.transform not in rs.tree.transforms:
                rs.tree.transforms[dim.transform] = rs.events.transform(dim.name)

    def pooled(self, members: list[str], parent: str, channels: list[str]) -> list[np.ndarray]:
        out = []
        for ch_index in range(len(channels)):
            parts = []
            for sid in members:
                rs = self.resolved[sid]
                parts.append(rs.events.values(rs.events.channel(channels[ch_index]))[rs.mask(parent)])
            out.append(np.concatenate(parts) if parts else np.empty(0))
        return out

    def base_record(self, spec: GateSpec, sid: str, channels: list[str], members: list[str]) -> dict[str, Any]:
        ev = self.resolved[sid].events
        record: dict[str, Any] = {"method": spec.method, "parent": spec.parent, "reference": spec.reference,
                                  "dimensions": {m: ev.channel(m) for m in channels}}
        if len(members) > 1:
            record["pooled_over"] = members
        return record

    # -- dispatch ------------------------------------------------------------------------------
    def resolve(self, spec: GateSpec) -> None:
        handler = {ClusterGate: self._cluster, SingletsGate: self._singlets, ThresholdGate: self._threshold,
                   QuadrantSpec: self._quadrant, DividedGate: self._divided, BooleanSpec: self._boolean,
                   RectangleSpec: self._rectangle, PolygonSpec: self._polygon}[type(spec)]
        jobs = [job for group in self.groups(spec) for job in self.local(spec, group)]
        if isinstance(spec, ClusterGate):
            self.cluster_fits = self.fit_clusters(jobs)
        for local, members in jobs:
            try:
                handler(local, members)
            except (MsclabError, ValueError, np.linalg.LinAlgError) as exc:
                for sid in members:
                    self.fail(sid, spec, exc)

    def fit_clusters(self, jobs: list[tuple[GateSpec, list[str]]]) -> dict[tuple[str, ...], Any]:
        """Members -> the mixture fit of their cluster gate, or the error it met.

        The groups' fits are independent, so they run in forked worker
        processes (:func:`msclab._parallel.fork_map`; in this process where
        forking is not safe); the results do not depend on where they ran.
        """
        from ..._parallel import fork_map

        inputs = []
        for spec, members in jobs:
            try:
                inputs.append((spec, self.pooled(members, spec.parent, [spec.x, spec.y])))
            except (MsclabError, ValueError) as exc:
                inputs.append((spec, exc))
        fits = fork_map(_fit_cluster, inputs, min_per_process=_MIN_FITS_PER_PROCESS)
        return {tuple(members): fit for (_, members), fit in zip(jobs, fits, strict=True)}

    def _each(self, spec: GateSpec, members: list[str], apply) -> None:
        """Run ``apply(sid)`` per member; a failure fails that sample only."""
        for sid in members:
            try:
                apply(sid)
            except (MsclabError, ValueError, np.linalg.LinAlgError) as exc:
                self.fail(sid, spec, exc)

    def _cluster(self, spec: ClusterGate, members: list[str]) -> None:
        fit = self.cluster_fits.pop(tuple(members))
        if isinstance(fit, Exception):
            raise fit

        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            dims = (ev.dimension(ev.channel(spec.x)), ev.dimension(ev.channel(spec.y)))
            if fit["shape"] == "polygon":
                gate: Gate = PolygonGate(dims, vertices=tuple(map(tuple, fit["vertices"])))
            else:
                gate = RectangleGate(dims, tuple(map(tuple, fit["bounds"])))
            self.add(sid, spec.name, spec.parent, gate,
                     {**self.base_record(spec, sid, [spec.x, spec.y], members), "resolved": fit})
        self._each(spec, members, apply)

    def _singlets(self, spec: SingletsGate, members: list[str]) -> None:
        area, height = self.pooled(members, spec.parent, [spec.x, spec.y])
        band = resolvers.singlet_band(area, height, width=spec.width)

        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            dims = (ev.dimension(ev.channel(spec.x)), ev.dimension(ev.channel(spec.y)))

            def line(x: float, offset: float) -> tuple[float, float]:
                return (x, band["intercept"] + band["slope"] * x + offset)

            vertices = (line(band["x_min"], band["low"]), line(band["x_max"], band["low"]),
                        line(band["x_max"], band["high"]), line(band["x_min"], band["high"]))
            self.add(sid, spec.name, spec.parent, PolygonGate(dims, vertices=vertices),
                     {**self.base_record(spec, sid, [spec.x, spec.y], members), "resolved": band})
        self._each(spec, members, apply)

    def _threshold(self, spec: ThresholdGate, members: list[str]) -> None:
        cuts = self.thresholds(spec.threshold, spec.x, spec.parent, members, spec.keep)

        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            value, record = _cut(cuts[sid])
            bounds = ((value, None),) if spec.keep == "above" else ((None, value),)
            gate = RectangleGate((ev.dimension(ev.channel(spec.x)),), bounds)
            self.add(sid, spec.name, spec.parent, gate,
                     {**self.base_record(spec, sid, [spec.x], members), "keep": spec.keep, "resolved": record})
        self._each(spec, members, apply)

    def _quadrant(self, spec: QuadrantSpec, members: list[str]) -> None:
        one_axis = [sid for sid in members if self.plans[sid][gate_label(spec)].reason]
        if one_axis:
            self._one_axis(spec, one_axis)
            members = [sid for sid in members if sid not in one_axis]
            if not members:
                return
        x_cuts = self.thresholds(spec.x_threshold, spec.x, spec.parent, members, _keeps(spec, "x"))
        y_cuts = self.thresholds(spec.y_threshold, spec.y, spec.parent, members, _keeps(spec, "y"))

        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            dims = (ev.dimension(ev.channel(spec.x)), ev.dimension(ev.channel(spec.y)))
            (xv, x_record), (yv, y_record) = _cut(x_cuts[sid]), _cut(y_cuts[sid])
            record = {**self.base_record(spec, sid, [spec.x, spec.y], members),
                      "resolved": {"x": x_record, "y": y_record}, "_label": gate_label(spec)}
            for quadrant in spec.quadrants:
                bounds = ((xv, None) if quadrant.x == "+" else (None, xv), (yv, None) if quadrant.y == "+" else (None, yv))
                self.add(sid, quadrant.name, spec.parent, RectangleGate(dims, bounds), dict(record))
        self._each(spec, members, apply)

    def _one_axis(self, spec: QuadrantSpec, members: list[str]) -> None:
        """A quadrant gate whose ``optional_axis`` marker the panel lacks: the kept quadrants on one axis."""
        axis = "x" if spec.optional_axis == "y" else "y"
        marker, threshold = getattr(spec, axis), getattr(spec, f"{axis}_threshold")
        cuts = self.thresholds(threshold, marker, spec.parent, members, _keeps(spec, axis))

        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            planned = self.plans[sid][gate_label(spec)]
            value, cut_record = _cut(cuts[sid])
            record = {**self.base_record(spec, sid, [marker], members), "resolved": {axis: cut_record},
                      "one_axis": planned.reason, "_label": gate_label(spec)}
            for quadrant in spec.quadrants:
                if quadrant.name in planned.dropped:
                    continue
                bounds = ((value, None),) if getattr(quadrant, axis) == "+" else ((None, value),)
                self.add(sid, quadrant.name, spec.parent, RectangleGate((ev.dimension(ev.channel(marker)),), bounds),
                         dict(record))
        self._each(spec, members, apply)

    def _divided(self, spec: DividedGate, members: list[str]) -> None:
        def apply(sid: str) -> None:
            rs = self.resolved[sid]
            ev = rs.events
            channel = ev.channel(spec.x)
            controls, how = self.find_controls(sid, "unstimulated", None, spec.match)
            if not controls:
                raise MsclabError("no unstimulated control to place generation 0 of the proliferation dye",
                                  hint="Add an unstimulated labelled control (control_type 'unstimulated').")
            control_values = np.concatenate([
                self.resolved[c].events.linear(self.resolved[c].events.channel(spec.x))[self.resolved[c].mask(spec.parent)]
                for c in controls])
            gen0 = prolif.generation0(control_values)
            fit = prolif.fit_generations(ev.linear(channel)[rs.mask(spec.parent)], gen0, generations=spec.generations)
            rs.proliferation[spec.parent] = fit
            cut = ev.to_scale(channel, 2.0**fit.boundary)
            gate = RectangleGate((ev.dimension(channel),), ((None, cut),))
            self.add(sid, spec.name, spec.parent, gate,
                     {**self.base_record(spec, sid, [spec.x], [sid]), "controls": controls, "control_match": how,
                      "resolved": {"threshold": cut, "threshold_data": 2.0**fit.boundary, **fit.record()}})
        self._each(spec, members, apply)

    def _boolean(self, spec: BooleanSpec, members: list[str]) -> None:
        def apply(sid: str) -> None:
            rs = self.resolved[sid]
            operands = tuple((rs.ids[ref.lstrip("!")], ref.startswith("!")) for ref in spec.of)
            self.add(sid, spec.name, spec.parent, BooleanGate(spec.op, operands),
                     {"method": "boolean", "parent": spec.parent, "reference": spec.reference,
                      "resolved": {"op": spec.op, "of": spec.of}})
        self._each(spec, members, apply)

    def _rectangle(self, spec: RectangleSpec, members: list[str]) -> None:
        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            axes = [(spec.x, spec.x_range)] + ([(spec.y, spec.y_range)] if spec.y else [])
            dims, bounds = [], []
            for marker, (lo, hi) in axes:
                channel = ev.channel(marker)
                dims.append(ev.dimension(channel))
                bounds.append((None if lo is None else ev.to_scale(channel, lo),
                               None if hi is None else ev.to_scale(channel, hi)))
            self.add(sid, spec.name, spec.parent, RectangleGate(tuple(dims), tuple(bounds)),
                     {**self.base_record(spec, sid, [m for m, _ in axes], [sid]), "resolved": {"bounds": bounds}})
        self._each(spec, members, apply)

    def _polygon(self, spec: PolygonSpec, members: list[str]) -> None:
        def apply(sid: str) -> None:
            ev = self.resolved[sid].events
            cx, cy = ev.channel(spec.x), ev.channel(spec.y)
            vertices = tuple((ev.to_scale(cx, a), ev.to_scale(cy, b)) for a, b in spec.vertices)
            self.add(sid, spec.name, spec.parent, PolygonGate((ev.dimension(cx), ev.dimension(cy)), vertices=vertices),
                     {**self.base_record(spec, sid, [spec.x, spec.y], [sid]), "resolved": {"vertices": vertices}})
        self._each(spec, members, apply)

    # -- thresholds and controls ---------------------------------------------------------------
    def thresholds(self, th: Threshold, marker: str, parent: str, members: list[str],
                   keep: str = "above") -> dict[str, tuple[float, dict[str, Any]] | MsclabError]:
        """Return sample -> (threshold on the gating scale, record), or the error that sample met."""
        out: dict[str, tuple[float, dict[str, Any]] | MsclabError] = {}
        if th.method == "control":
            for sid in members:
                try:
                    out[sid] = self._control_threshold(th, sid, marker, parent, keep)
                except MsclabError as exc:
                    out[sid] = exc
            return out
        if th.method == "fixed":
            for sid in members:
                ev = self.resolved[sid].events
                value = ev.to_scale(ev.channel(marker), float(th.value)) + th.margin
                out[sid] = (value, {"method": "fixed", "value": th.value, "threshold": value})
            return out
        (values,) = self.pooled(members, parent, [marker])
        record = self._own_threshold(th.method, th, values, keep, self._zero(members[0], marker))
        for sid in members:
            if "ci_share" in record and len(members) > 1:  # a pooled valley's interval, judged on each sample's parent
                (own,) = self.pooled([sid], parent, [marker])
                out[sid] = (record["threshold"], {**record, "ci_share": _share_between(own, *record["threshold_ci"])})
            else:
                out[sid] = (record["threshold"], record)
        return out

    def _zero(self, sid: str, marker: str) -> float:
        """Where an unstained event (data value 0) lies on ``marker``'s gating scale."""
        ev = self.resolved[sid].events
        return ev.to_scale(ev.channel(marker), 0.0)

    def _own_threshold(self, method: str, th: Threshold, values: np.ndarray, keep: str,
                       zero: float) -> dict[str, Any]:
        """A threshold from the parent's own events; ``zero`` (unstained position) is kept for its confidence."""
        if method == "valley":
            record = resolvers.density_valley(values, keep=keep, between=th.between, width=th.width,
                                              separation=th.separation)
        elif method == "beyond_peak":
            record = resolvers.beyond_peak(values, keep=keep, width=th.width)
        else:
            record = resolvers.percentile_threshold(values, th.percentile)
        record["threshold"] += th.margin
        if method == "valley" and "threshold_ci" in record:  # the cut's bootstrap interval and the parent inside it
            record["threshold_ci"] = [b + th.margin for b in record["threshold_ci"]]
            record["ci_share"] = _share_between(values, *record["threshold_ci"])
        return {"method": method, **record, "keep": keep, "zero": zero}

    def _control_threshold(self, th: Threshold, sid: str, marker: str, parent: str,
                           keep: str) -> tuple[float, dict[str, Any]]:
        ev = self.resolved[sid].events
        channel = ev.channel(marker)
        marker_key = normalise_marker(ev.markers.get(channel, channel))
        kind = self.panel_controls.get(marker_key) if th.control == "panel" else th.control
        controls, how = self.find_controls(sid, kind, marker_key, th.match) if kind else ([], "")
        if not controls:
            values = self.resolved[sid].events.values(channel)[self.resolved[sid].mask(parent)]
            record = self._own_threshold(th.fallback, th, values, keep, self._zero(sid, marker))
            record["note"] = (f"no {kind or 'control'} sample for {marker}: fell back to {th.fallback}")
            return record["threshold"], record
        values = np.concatenate([self.resolved[c].events.values(self.resolved[c].events.channel(marker))
                                 [self.resolved[c].mask(parent)] for c in controls])
        record = resolvers.percentile_threshold(values, th.percentile)
        record["threshold"] += th.margin
        record["threshold_ci"] = [b + th.margin for b in record["threshold_ci"]]
        own = self.resolved[sid].events.values(channel)[self.resolved[sid].mask(parent)]
        record["ci_share"] = _share_between(own, *record["threshold_ci"])
        match = self._negative_match(sid, controls, marker, parent, th.percentile)
        return record["threshold"], {"method": "control", "control_type": kind, "controls": controls,
                                     "control_match": how, "percentile": th.percentile, **record,
                                     **({"negative_match": match} if match else {})}

    def _negative_match(self, sid: str, controls: list[str], marker: str, parent: str,
                        percentile: float) -> dict[str, float] | None:
        """Whether the sample's negative events lie where its controls' do (:func:`resolvers.negative_match`)."""
        def linear(name: str) -> np.ndarray:
            rs = self.resolved[name]
            return rs.events.linear(rs.events.channel(marker))[rs.mask(parent)]

        if sid in controls:
            return None
        control = np.concatenate([linear(c) for c in controls])
        cut = float(np.percentile(control[np.isfinite(control)], percentile)) if len(control) else np.nan
        if not np.isfinite(cut):
            return None
        return resolvers.negative_match(control, linear(sid), cut, below=percentile >= 50)

    def find_controls(self, sid: str, kind: str, marker_key: str | None,
                      match: list[str]) -> tuple[list[str], str]:
        """Return the control samples for ``sid`` and how they were matched.

        A control sample is its own control. Otherwise controls of the same
        ``match`` columns (tried in order) are used, then any control of the
        kind in the run (pooled); see :func:`~msclab.flow.protocols.matching.match_controls`.
        """
        others = {c: self.resolved[c].events.info for c in self.alive()}
        return match_controls(sid, self.resolved[sid].events.info, others, kind, marker_key, match)

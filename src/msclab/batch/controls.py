"""Which control samples a sample's gating depends on, read from the protocol and the samplesheet.

:func:`msclab.flow.protocols.resolve_protocol` takes a threshold from a
matched control sample (FMO or unstimulated) gated through the same parents,
and places generation 0 of a proliferation dye from the unstimulated control.
With every gate fitted per sample (``group_by: sample``) a sample's gates
therefore depend only on its own events and on those control samples (and,
transitively, on their controls). This module finds that set without reading
any event, with the resolver's own matching function
(:func:`msclab.flow.protocols.matching.match_controls`): a control is its own
control; otherwise the controls that share the first ``match`` column
(``donor``, then ``plate``) with the sample; otherwise every control of the
kind. When a marker cannot be identified from the panel (no detector ->
marker map), every control sample of the panel is taken, which is always
enough.

Resolving a sample together with this set gives exactly the gates it gets
when its whole panel is resolved at once, as long as none of those controls
fails (a failed control is skipped by the resolver and the next match is
tried); :mod:`msclab.batch.flow` then falls back to every control of the panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ..flow.channels import ChannelIndex, normalise_marker
from ..flow.protocols import Protocol, Threshold
from ..flow.protocols.matching import field_text, match_controls
from ..flow.protocols.plan import gate_plan
from ..flow.protocols.schema import DividedGate, QuadrantSpec, ThresholdGate, gate_label


@dataclass(frozen=True)
class ControlNeed:
    """One lookup of control samples the resolver makes for a sample.

    Attributes
    ----------
    kind
        Control type (``fmo``, ``unstimulated``...); None when it cannot be
        told without reading the files (then every control is needed).
    marker
        Normalised marker an FMO control must be ``control_for``; None for
        other kinds.
    match
        Samplesheet columns tried in turn to find the sample's own control.
    """

    kind: str | None
    marker: str | None
    match: tuple[str, ...]


def pooled_gates(protocol: Protocol) -> list[str]:
    """Return the gates fitted on events pooled over a plate or donor (``group_by`` other than ``sample``)."""
    return [gate_label(g) for g in protocol.gates if g.group_by != "sample"]


def _threshold_need(th: Threshold, axis: str, panel: ChannelIndex,
                    panel_controls: Mapping[str, str]) -> ControlNeed | None:
    if th.method != "control":
        return None
    key = panel.marker_key(axis)  # the marker SampleEvents.channel finds, in the panel's map
    if th.control == "panel":
        if key is None:
            return ControlNeed(None, None, tuple(th.match))
        kind = panel_controls.get(key)
        if kind is None:
            return None
    else:
        kind = th.control
    if kind == "fmo" and key is None:
        return ControlNeed(None, None, tuple(th.match))
    return ControlNeed(kind, key if kind == "fmo" else None, tuple(th.match))


def control_needs(protocol: Protocol, markers: Mapping[str, str], controls: Mapping[str, str]) -> list[ControlNeed]:
    """Return every control lookup the protocol makes.

    Parameters
    ----------
    protocol
        The loaded protocol.
    markers
        The panel's detector -> marker map (empty: markers come from the files).
    controls
        The panel's marker -> control type map (``experiment.yaml`` ``controls``).
    """
    panel_controls = {normalise_marker(k): v for k, v in controls.items()}
    panel = ChannelIndex.of_panel(markers)
    # Gates the panel skips (optional, markers absent) look up no control.
    skipped = ({p.gate for p in gate_plan(protocol, panel.has) if p.status == "skip"}
               if markers else set())
    needs: list[ControlNeed | None] = []
    for gate in protocol.gates:
        if gate_label(gate) in skipped:
            continue
        if isinstance(gate, ThresholdGate):
            needs.append(_threshold_need(gate.threshold, gate.x, panel, panel_controls))
        elif isinstance(gate, QuadrantSpec):
            needs += [_threshold_need(gate.x_threshold, gate.x, panel, panel_controls),
                      _threshold_need(gate.y_threshold, gate.y, panel, panel_controls)]
        elif isinstance(gate, DividedGate):
            needs.append(ControlNeed("unstimulated", None, tuple(gate.match)))
    return list(dict.fromkeys(n for n in needs if n is not None))


def is_control(row: Mapping[str, object]) -> bool:
    """True for a samplesheet row of a control sample (any ``control_type``)."""
    return bool(field_text(row.get("control_type")))


def controls_of(sample: str, rows: pd.DataFrame, needs: Sequence[ControlNeed]) -> list[str]:
    """Return the control samples ``sample`` is gated with (directly), in samplesheet order.

    Parameters
    ----------
    sample
        A ``sample_id`` of ``rows``.
    rows
        The panel's samplesheet rows (one per sample).
    needs
        From :func:`control_needs`.
    """
    return _Controls(rows, needs).of(sample)


def closure(targets: Sequence[str], rows: pd.DataFrame, needs: Sequence[ControlNeed]) -> list[str]:
    """Return ``targets`` and every control they depend on, transitively, in samplesheet order."""
    return _Controls(rows, needs).closure(targets)


class _Controls:
    """:func:`controls_of` and :func:`closure` for one panel's rows, each sample's controls found once.

    Planning a plate asks for the same samples' controls thousands of times
    (every candidate task's closure); the rows are read into records once.
    """

    def __init__(self, rows: pd.DataFrame, needs: Sequence[ControlNeed]) -> None:
        self.by_id = {str(r["sample_id"]): r for r in rows.to_dict("records")}
        self.order = [str(s) for s in rows["sample_id"]]
        self.needs = needs
        self._everyone = [sid for sid, r in self.by_id.items() if is_control(r)]
        self._found: dict[str, list[str]] = {}

    def of(self, sample: str) -> list[str]:
        """The control samples ``sample`` is gated with (directly), in samplesheet order."""
        if sample not in self._found:
            found: set[str] = set()
            for need in self.needs:
                if need.kind is None:
                    found.update(self._everyone)
                    continue
                controls, how = match_controls(sample, self.by_id[sample], self.by_id, need.kind, need.marker,
                                               need.match)
                if how != "self":
                    found.update(controls)
            found.discard(sample)
            self._found[sample] = [sid for sid in self.by_id if sid in found]
        return list(self._found[sample])

    def closure(self, targets: Sequence[str]) -> list[str]:
        """``targets`` and every control they depend on, transitively, in samplesheet order."""
        done: set[str] = set()
        todo = list(targets)
        while todo:
            sid = todo.pop()
            if sid in done:
                continue
            done.add(sid)
            todo += self.of(sid)
        return [sid for sid in self.order if sid in done]


def all_controls(targets: Sequence[str], rows: pd.DataFrame) -> list[str]:
    """Return ``targets`` and every control sample of the panel, in samplesheet order."""
    wanted = set(targets) | {str(r["sample_id"]) for r in rows.to_dict("records") if is_control(r)}
    return [sid for sid in rows["sample_id"].astype(str) if sid in wanted]


def task_groups(todo: Sequence[str], rows: pd.DataFrame, needs: Sequence[ControlNeed],
                samples_per_task: int | None = None) -> list[tuple[list[str], list[str]]]:
    """Split the samples still to do into tasks.

    Samples that depend on the same controls go together, ``samples_per_task``
    at a time. A control sample still to do whose own controls are already in
    a task's subset becomes a target of that task, so it is gated there and
    not again in a task of its own.

    Parameters
    ----------
    todo
        Sample ids still to quantify.
    rows
        The panel's samplesheet rows (one per sample).
    needs
        From :func:`control_needs`.
    samples_per_task
        At most this many samples sharing controls per task; None: all of them.

    Returns
    -------
    list of (targets, subset)
        Per task, the samples whose results it keeps and the samples it gates
        (``targets`` and their :func:`closure`), in samplesheet order.
    """
    controls = _Controls(rows, needs)
    by_controls: dict[tuple[str, ...], list[str]] = {}
    for sid in todo:
        by_controls.setdefault(tuple(controls.of(sid)), []).append(sid)
    size = samples_per_task or len(todo) or 1
    chunks = [members[i:i + size] for members in by_controls.values() for i in range(0, len(members), size)]
    chunks.sort(key=lambda chunk: -len(controls.closure(chunk)))
    pending, groups = set(todo), []
    for chunk in chunks:
        targets = [sid for sid in chunk if sid in pending]
        if not targets:
            continue
        subset = controls.closure(targets)
        targets += [sid for sid in subset if sid in pending and sid not in targets
                    and set(controls.closure([sid])) <= set(subset)]
        pending -= set(targets)
        groups.append(([sid for sid in subset if sid in targets], subset))
    return groups

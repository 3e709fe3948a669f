"""Which gates of a protocol a panel can run: the gate plan.

A gate is *core* (the panel means nothing without it) or ``optional``. A
gate whose markers the panel lacks is skipped when it is optional, and so is
every gate below it (its children, and boolean gates using it); a missing
core marker is an error. Two kinds of gate degrade instead: an optional
gate with ``if_missing: keep_parent`` (its children are gated on its parent),
and a quadrant gate whose ``optional_axis`` marker is missing (its quadrants
negative on that axis are gated on the other axis alone, the others are
skipped). :func:`gate_plan` gives the plan for any way of
asking "does the panel have this marker?": the experiment's panel
(``msclab validate``; ``ChannelIndex.of_panel(markers).has``) or one sample's
channels (gating), both by :class:`msclab.flow.channels.ChannelIndex`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal

from ...errors import MsclabError
from ..channels import ChannelIndex
from .schema import BooleanSpec, GateSpec, Protocol, QuadrantSpec, gate_label, gate_markers

@dataclass(frozen=True)
class PlannedGate:
    """One gate of the plan.

    Attributes
    ----------
    gate
        The gate's label (quadrant populations joined by commas).
    populations
        The populations it defines.
    core
        False for ``optional`` gates.
    status
        ``run``; ``skip`` (optional gate, or below a skipped gate); ``missing``
        (a core gate whose markers the panel lacks: an error).
    reason
        Why it is skipped, missing or run on one axis (empty for a full run).
    replaced_by
        For a skipped ``keep_parent`` gate: the population its children are
        gated on instead.
    dropped
        For a quadrant gate run on one axis: the populations it skips.
    """

    gate: str
    populations: tuple[str, ...]
    core: bool
    status: Literal["run", "skip", "missing"]
    reason: str = ""
    replaced_by: str = ""
    dropped: tuple[str, ...] = ()


def _read_markers(gate: GateSpec) -> list[str]:
    mfi = [m for q in gate.quadrants for m in q.mfi] if isinstance(gate, QuadrantSpec) else list(gate.mfi)
    return gate_markers(gate) + mfi


def gate_plan(protocol: Protocol, available: Callable[[str], bool]) -> list[PlannedGate]:
    """Return the plan of every gate of ``protocol``, in order.

    Parameters
    ----------
    protocol
        A loaded protocol.
    available
        Whether the panel has a marker spec (``"CD3"``, ``"CTV|CFSE"``, ``"FSC-A"``).
    """
    blocked: dict[str, str] = {}
    stand_in: dict[str, str] = {}  # a skipped keep_parent gate -> the population used instead
    plan = []
    for gate in protocol.gates:
        names = tuple(gate.names) if isinstance(gate, QuadrantSpec) else (gate.name,)
        uses = [gate.parent] + ([ref.lstrip("!") for ref in gate.of] if isinstance(gate, BooleanSpec) else [])
        above = next((u for u in uses if u in blocked), None)
        missing = [m for m in dict.fromkeys(_read_markers(gate)) if not available(m)]
        one_axis = _one_axis(gate, missing)
        replaced_by, dropped = "", ()
        if above is not None:
            status, reason = "skip", f"below the skipped gate {above!r} ({blocked[above]})"
        elif one_axis:
            status, dropped = "run", tuple(q.name for q in gate.quadrants if getattr(q, gate.optional_axis) == "+")
            kept = [q.name for q in gate.quadrants if q.name not in dropped]
            reason = (f"the panel has no {one_axis}: {', '.join(kept)} gated on {getattr(gate, _other(gate))} alone"
                      + (f"; {', '.join(dropped)} skipped" if dropped else ""))
            blocked.update({n: reason for n in dropped})
        elif missing and gate.optional:
            status, reason = "skip", f"optional gate; the panel has no {' / '.join(missing)}"
            if gate.if_missing == "keep_parent":
                replaced_by = stand_in.get(gate.parent, gate.parent)
                reason += f": the gates below are gated on {replaced_by!r} instead"
                stand_in[gate.name] = replaced_by
        elif missing:
            status, reason = "missing", f"core gate; the panel has no {' / '.join(missing)}"
        else:
            status, reason = "run", ""
        if status != "run" and not replaced_by:
            blocked.update({n: reason if above is None else blocked[above] for n in names})
        plan.append(PlannedGate(gate_label(gate), names, not gate.optional, status, reason, replaced_by, dropped))
    return plan


def _other(gate: QuadrantSpec) -> str:
    return "x" if gate.optional_axis == "y" else "y"


def _one_axis(gate: GateSpec, missing: list[str]) -> str:
    """The marker of a quadrant gate's ``optional_axis`` when it is the only one missing, else ``""``."""
    if not isinstance(gate, QuadrantSpec) or gate.optional_axis is None:
        return ""
    axis_marker = getattr(gate, gate.optional_axis)
    return axis_marker if missing == [axis_marker] else ""


def experiment_gate_plans(manifest: str | PathLike[str]) -> tuple[dict[str, list[PlannedGate]], list[MsclabError]]:
    """Return every protocol panel's gate plan, and an error per core gate whose markers the panel lacks.

    Panels gated by a GatingML or FlowJo file have no plan. The errors name
    the ``experiment.yaml`` line of the panel.

    Parameters
    ----------
    manifest
        ``experiment.yaml``.
    """
    from ...experiment.validate import load_manifest
    from .loader import is_strategy_file, load_protocol

    path = Path(manifest)
    spec, _ = load_manifest(path)
    if spec is None:
        return {}, []
    plans: dict[str, list[PlannedGate]] = {}
    problems: list[MsclabError] = []
    for name, panel in spec.panels.items():
        if panel.protocol and is_strategy_file(panel.protocol):
            continue
        try:
            protocol = load_protocol(panel.protocol or name, base=path.parent)
        except MsclabError as exc:
            problems.append(exc)
            continue
        plans[name] = gate_plan(protocol, ChannelIndex.of_panel(panel.markers).has)
        for gate in plans[name]:
            if gate.status == "missing":
                problems.append(MsclabError(
                    f"panel {name!r} cannot run protocol {protocol.name!r}: gate {gate.gate!r} is a {gate.reason}",
                    file=path, where=_panel_line(path, name),
                    hint="Add the marker to the panel's markers (detector: marker), or use a protocol that does "
                         "not need it (docs/protocols.md lists each protocol's core markers)."))
    return plans, problems


def _panel_line(manifest: Path, panel: str) -> str:
    """``line N`` of a panel's ``markers:`` entry (else its name) in ``experiment.yaml``."""
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return f"panels.{panel}"
    start = next((i for i, line in enumerate(lines) if re.match(rf"\s+['\"]?{re.escape(panel)}['\"]?\s*:", line)), None)
    if start is None:
        return f"panels.{panel}"
    found = next((i for i in range(start + 1, len(lines)) if re.match(r"\s+markers\s*:", lines[i])), start)
    return f"line {found + 1} (panels.{panel}.markers)"


def format_plan(plan: list[PlannedGate]) -> list[str]:
    """One line per gate: ``run``/``skip``/``MISSING``, the gate and why."""
    word = {"run": "run ", "skip": "skip", "missing": "MISSING"}
    return [f"{word[g.status]}  {g.gate}" + (f"  ({g.reason})" if g.reason else "") + ("" if g.core else "  [optional]")
            for g in plan]

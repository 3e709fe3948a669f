"""Pool a panel's gated events for discovery: one parent population, a fixed number per sample.

Every sample of the panel that was gated is read again, its concrete gate tree
(the one :func:`msclab.flow.panel.quantify_panel` resolved and exported,
including review overrides) is evaluated on it with the gating engine, and a
seeded draw of at most ``events_per_sample`` events of the parent population is
kept, compensated and transformed exactly as the gates saw them
(:meth:`msclab.flow.protocols.sample.SampleEvents.values`). Samples are read
one at a time, so memory grows with the pooled events only, not with the
number of samples (except with batch normalisation, which needs every sample of
the panel at once, as in gating).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import MsclabError
from ..experiment.model import Discovery
from ..flow.channels import normalise_marker
from ..flow.gating.engine import Events, gate_events
from ..flow.gating.tree import GateTree
from ..flow.protocols.sample import SampleEvents
from ..flow.protocols.schema import Protocol, Transforms
from ..io import open_fcs

#: Parent populations tried in order when the discovery section names none.
DEFAULT_PARENTS = ("T cells", "CD45+", "Live", "Singlets")

#: Marker names that are not phenotype markers: viability and proliferation dyes (matched on the reduced name).
_NOT_PHENOTYPE = re.compile(
    r"^(viability|livedead|ld|live|dead|zombie\w*|fvs\d*|7aad|dapi|pi|propidiumiodide|sytox\w*|"
    r"celltrace\w*|ctv|cfse|proliferationdye|efluor\d*|annexinv|annexin|annv|time)$"
)


@dataclass
class PooledEvents:
    """Events of one panel's parent population, pooled over samples.

    Attributes
    ----------
    values
        Events x markers, compensated and transformed (gating scale).
    markers
        Column names of ``values`` (the panel's marker names).
    sample_id
        The sample of each event.
    event
        The row of each event in its sample's file (0-based), to map drawn events back to their source.
    parent
        The parent population the events were drawn from.
    parent_counts
        Sample id -> number of events in the parent population (before the draw).
    skipped
        Sample id -> why it gave no events (failed gating, missing parent, no events).
    """

    values: np.ndarray
    markers: list[str]
    sample_id: np.ndarray
    event: np.ndarray
    parent: str
    parent_counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def is_phenotype_marker(marker: str, detector: str = "") -> bool:
    """True unless the marker is a viability or proliferation dye, or the detector is scatter/time.

    Examples
    --------
    >>> is_phenotype_marker("FoxP3"), is_phenotype_marker("Zombie NIR"), is_phenotype_marker("x", "FSC-A")
    (True, False, False)
    """
    upper = detector.upper()
    if upper.startswith(("FSC", "SSC")) or upper == "TIME":
        return False
    key = normalise_marker(marker)
    return not _NOT_PHENOTYPE.match(key) and not key.startswith(("viability", "livedead", "zombie", "celltrace"))


def discovery_markers(panel_markers: dict[str, str], spec: Discovery) -> list[str]:
    """The markers to cluster on: the spec's, or the panel's phenotype markers.

    Raises
    ------
    MsclabError
        When a marker of the spec is not in the panel, or fewer than two remain.
    """
    if spec.markers:
        known = {normalise_marker(m): m for m in panel_markers.values()}
        missing = [m for m in spec.markers if normalise_marker(m) not in known]
        if missing:
            raise MsclabError(f"discovery markers {missing} are not markers of the panel",
                              hint=f"Use some of: {', '.join(panel_markers.values())}.")
        markers = [known[normalise_marker(m)] for m in spec.markers]
    else:
        markers = [m for d, m in panel_markers.items() if is_phenotype_marker(m, d)]
    markers = list(dict.fromkeys(markers))
    if len(markers) < 2:
        raise MsclabError(f"discovery needs at least two markers; the panel gives {markers}",
                          hint="Name the markers under discovery: markers: in experiment.yaml.")
    return markers


def default_parent(protocol: Protocol | None, spec: Discovery, trees: dict[str, GateTree] | None = None) -> str:
    """The parent population: the spec's, else the first of :data:`DEFAULT_PARENTS` the panel gates, else root.

    The panel's populations are the protocol's gates or, for a panel gated by
    a GatingML file or FlowJo workspace (no protocol), the population names of
    its gate trees.

    Raises
    ------
    MsclabError
        When the spec names a population the panel does not gate.
    """
    if protocol is not None:
        names = {n for g in protocol.gates for n in _names(g)}
    else:
        names = {pop.name for tree in (trees or {}).values() for pop in tree.populations.values()}
    if spec.parent:
        if spec.parent not in names:
            source = "protocol" if protocol is not None else "gating file"
            raise MsclabError(f"discovery parent {spec.parent!r} is not a population of the panel's {source}",
                              hint=f"Use one of: {', '.join(sorted(names))}.")
        return spec.parent
    return next((p for p in DEFAULT_PARENTS if p in names), "root")


def _names(gate) -> list[str]:
    names = getattr(gate, "names", None)
    return list(names) if names else [gate.name]


def _parent_id(tree: GateTree, parent: str) -> str | None:
    return next((pid for pid, pop in tree.populations.items() if pop.name == parent), None)


def pool_events(experiment, panel_name: str, protocol: Protocol | None, trees: dict[str, GateTree], spec: Discovery,
                *, parent: str, markers: list[str], seed: int) -> PooledEvents:
    """Read, gate and subsample every gated sample of a panel.

    Parameters
    ----------
    experiment
        A :class:`msclab.experiment.Experiment`.
    panel_name
        The panel.
    protocol
        The panel's protocol (its transforms give the scale); None for a panel
        gated by a GatingML file or FlowJo workspace, whose events are put on
        msclab's default scale (:class:`msclab.flow.protocols.schema.Transforms`).
    trees
        Sample id -> resolved gate tree (``PanelResult.resolved``); samples
        without a tree (failed gating) are skipped with that reason.
    spec
        The discovery options.
    parent, markers
        Parent population and markers (:func:`default_parent`, :func:`discovery_markers`).
    seed
        Seed of the draws (each sample draws from its own stream).

    Returns
    -------
    PooledEvents

    Raises
    ------
    MsclabError
        When no sample gives any event.
    """
    from ..flow.batch_normalisation import normalise_events

    panel = experiment.spec.panels[panel_name]
    rows = experiment.files(panel_name).to_dict("records")
    skipped: dict[str, str] = {}
    normalised: dict[str, SampleEvents] | None = None
    if panel.normalisation is not None:
        samples = {str(r["sample_id"]): _read(r, panel.markers, protocol) for r in rows
                   if str(r["sample_id"]) in trees}
        normalised, _, _ = normalise_events(samples, panel.normalisation)
    blocks, ids, rows_kept, counts = [], [], [], {}
    for index, row in enumerate(rows):
        sid = str(row["sample_id"])
        if sid not in trees:
            skipped[sid] = "not gated (see failures.csv)"
            continue
        if _is_gating_control(row):
            skipped[sid] = f"control sample ({row['control_type']})"
            continue
        events = normalised.get(sid) if normalised is not None else _read(row, panel.markers, protocol)
        if events is None:
            skipped[sid] = "not normalised (see failures.csv)"
            continue
        mask = _parent_mask(events, trees[sid], parent)
        counts[sid] = int(mask.sum())
        if not counts[sid]:
            skipped[sid] = f"no events in {parent!r}"
            continue
        rng = np.random.default_rng([seed, index])
        rows_in = np.flatnonzero(mask)
        if rows_in.size > spec.events_per_sample:
            rows_in = np.sort(rng.choice(rows_in, spec.events_per_sample, replace=False))
        block = np.column_stack([events.values(events.channel(m))[rows_in] for m in markers])
        blocks.append(block.astype(np.float32))
        ids.append(np.full(rows_in.size, sid, dtype=object))
        rows_kept.append(rows_in)
    if not blocks:
        raise MsclabError(f"discovery on panel {panel_name!r}: no sample gave events of {parent!r}",
                          hint="Check the panel's gating (failures.csv, gate plots).")
    return PooledEvents(values=np.vstack(blocks), markers=markers, sample_id=np.concatenate(ids),
                        event=np.concatenate(rows_kept).astype(np.int64), parent=parent,
                        parent_counts=counts, skipped=skipped)


def _read(row: dict, markers: dict[str, str], protocol: Protocol | None) -> SampleEvents:
    return SampleEvents.from_fcs(open_fcs(row["file"]), str(row["sample_id"]), markers, info=row,
                                 scale=protocol.transforms if protocol is not None else Transforms())


def _is_gating_control(row: dict) -> bool:
    """FMO, unstained, single-stain and isotype tubes are gating controls, not cultures to cluster."""
    kind = str(row.get("control_type", "") or "").strip().lower()
    return kind in {"fmo", "unstained", "single_stain", "isotype", "bridge"}


def _parent_mask(events: SampleEvents, tree: GateTree, parent: str) -> np.ndarray:
    if parent == "root":
        return np.ones(events.n_events, dtype=bool)
    pid = _parent_id(tree, parent)
    if pid is None:
        return np.zeros(events.n_events, dtype=bool)
    engine = Events(data=events.data, channels=events.channels,
                    markers=[events.markers.get(c) for c in events.channels], spillover=events.spillover,
                    sample_id=events.sample_id)
    return gate_events(tree, engine).membership[pid]


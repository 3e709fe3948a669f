"""Discovery on one gated panel, from pooled events to the files of ``OUT/discovery/<panel>/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd

from .._files import atomic_path, atomic_write
from ..experiment.model import Discovery
from .abundance import abundance_table, differential_abundance, population_differential
from .annotate import annotate_clusters, load_rules
from .cluster import cluster_events
from .events import default_parent, discovery_markers, pool_events

#: Files written per panel, by key.
OUTPUTS = {"events": "events.h5ad", "clusters": "clusters.csv", "abundance": "abundance.csv",
           "differential": "differential.csv", "populations": "populations.csv"}


@dataclass
class DiscoveryResult:
    """What discovery found on one panel.

    Attributes
    ----------
    panel
        The panel.
    events
        The pooled events (``obs`` ``sample_id, event, cluster, annotation``, ``event`` the row of the
        event in its sample's file; ``obsm['X_umap']``).
    clusters
        One row per cluster: ``cluster, n_events, annotation, annotation_confidence,
        catalogue_id, rule, reference, median:<marker>``.
    abundance
        ``sample_id, cluster, count, fraction``.
    differential
        ``contrast, cluster, annotation, log2_ratio, ci_low, ci_high, p_value, q_value, n_donors``
        (and the moderation's ``df, s2_prior, d0``).
    populations
        The same test per named population (its clusters summed): ``contrast, annotation,
        catalogue_id, n_clusters, log2_ratio, ci_low, ci_high, p_value, q_value, n_donors, ...``;
        the discovery estimate the comparison sets beside the gated one.
    record
        What was done (parent, markers, parameters, skipped samples and rules), for provenance.
    paths
        Files written, by key of :data:`OUTPUTS`.
    """

    panel: str
    events: object
    clusters: pd.DataFrame
    abundance: pd.DataFrame
    differential: pd.DataFrame
    populations: pd.DataFrame
    record: dict = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def discover_panel(experiment, panel_result, spec: Discovery | None = None, *, seed: int = 0,
                   out: str | PathLike[str] | None = None) -> DiscoveryResult:
    """Cluster, embed, annotate and test the differential abundance of one gated panel.

    Parameters
    ----------
    experiment
        A :class:`msclab.experiment.Experiment`.
    panel_result
        The panel's :class:`msclab.flow.result.PanelResult` (its resolved gate trees).
    spec
        Discovery options (default :class:`msclab.experiment.model.Discovery`).
    seed
        Seed used when ``spec.seed`` is empty.
    out
        If given, the folder the files of :data:`OUTPUTS` are written to (atomically).

    Returns
    -------
    DiscoveryResult

    Raises
    ------
    MsclabError
        Unknown markers or parent, or no events.

    Notes
    -----
    A panel gated by a GatingML file or FlowJo workspace (``protocol`` None)
    takes its parent population by name from its gate trees, its scale from
    msclab's default transforms, and the rules of every protocol table.
    """
    spec = spec or Discovery()
    panel = experiment.spec.panels[panel_result.panel]
    protocol = panel_result.protocol
    seed = spec.seed if spec.seed is not None else seed
    markers = discovery_markers(panel.markers, spec)
    parent = default_parent(protocol, spec, panel_result.resolved)
    pooled = pool_events(experiment, panel_result.panel, protocol, panel_result.resolved, spec, parent=parent,
                         markers=markers, seed=seed)
    adata = cluster_events(pooled.values, markers, pooled.sample_id, method=spec.method, n_neighbors=spec.n_neighbors,
                           resolution=spec.resolution, grid=spec.grid, n_metaclusters=spec.n_metaclusters,
                           umap_events=spec.umap_events, seed=seed)
    clusters, skipped_rules = annotate_clusters(pooled.values, markers, adata.obs["cluster"].to_numpy(),
                                                load_rules(protocol.name if protocol is not None else None))
    names = dict(zip(clusters["cluster"], clusters["annotation"], strict=True))
    adata.obs["annotation"] = pd.Categorical(adata.obs["cluster"].astype(str).map(names))
    adata.obs["event"] = pooled.event
    samples = [s for s in dict.fromkeys(experiment.files(panel_result.panel)["sample_id"].astype(str))
               if s in pooled.parent_counts and s not in pooled.skipped]
    abundance = abundance_table(pooled.sample_id, adata.obs["cluster"].to_numpy(), samples)
    obs = experiment.samples.loc[[s for s in samples if s in experiment.samples.index]]
    differential = differential_abundance(abundance, obs, list(experiment.spec.contrasts), names)
    populations = population_differential(abundance, clusters, obs, list(experiment.spec.contrasts))
    record = {"parent": parent, "markers": markers, "events_per_sample": spec.events_per_sample,
              **adata.uns["discovery"], "seed": seed,
              "n_events": int(adata.n_obs), "n_clusters": int(len(clusters)), "skipped_samples": pooled.skipped,
              "skipped_rules": skipped_rules,
              "scale": "protocol transforms" if protocol is not None else "msclab default transforms (gating file)"}
    adata.uns["discovery"] |= {"panel": panel_result.panel, "parent": parent}
    result = DiscoveryResult(panel_result.panel, adata, clusters, abundance, differential, populations, record)
    if out is not None:
        result.paths = write_discovery(result, Path(out))
    return result


def write_discovery(result: DiscoveryResult, folder: Path) -> dict[str, Path]:
    """Write the files of :data:`OUTPUTS` (``events.h5ad`` and the tables) atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in OUTPUTS.items()}
    with atomic_path(paths["events"]) as tmp:
        result.events.write_h5ad(tmp)
    for key in ("clusters", "abundance", "differential", "populations"):
        with atomic_write(paths[key], newline="") as handle:
            getattr(result, key).to_csv(handle, index=False)
    return paths


def discovery_hook(experiment, provenance, *, every_panel: bool, seed: int, out: str | PathLike[str]):
    """The per-panel step ``msclab analyze`` runs after gating, or None when no panel asks for discovery.

    A panel runs discovery when ``experiment.yaml`` gives it a ``discovery:``
    section or ``every_panel`` is true (``--discovery``; the section's options
    still apply). The step writes ``<out>/discovery/<panel>/`` and records what
    it did in ``provenance.steps['discovery'][panel]``. It never raises: a
    failure is recorded there as ``{"status": "failed", "reason": ...}`` and
    shown as a warning of the analysis, and the gated results are unaffected.

    Parameters
    ----------
    experiment
        A :class:`msclab.experiment.Experiment`.
    provenance
        The analysis' :class:`msclab.provenance.Provenance`.
    every_panel
        Run on every flow panel, not only those with a section.
    seed
        The analysis seed (used where a section gives none).
    out
        The analysis output folder.

    Returns
    -------
    callable or None
        ``step(panel_result)``.
    """
    panels = {name for name, p in experiment.spec.panels.items() if every_panel or p.discovery is not None}
    if not panels:
        return None
    records = provenance.steps.setdefault("discovery", {})

    def step(panel_result) -> None:
        name = panel_result.panel
        if name not in panels:
            return
        try:
            result = discover_panel(experiment, panel_result, experiment.spec.panels[name].discovery, seed=seed,
                                    out=Path(out) / "discovery" / name)
        except Exception as exc:  # noqa: BLE001 - discovery is an extra: its failure must not fail the analysis
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            records[name] = {"status": "failed", "reason": str(reason)}
            return
        records[name] = {"status": "ok", **result.record, "outputs": {k: str(p) for k, p in result.paths.items()}}

    return step


def discovery_warnings(steps: dict) -> list[str]:
    """Warnings for the terminal summary and the report: discovery steps that failed or were skipped."""
    return [f"panel {panel}: discovery {record['status']}: {record['reason']}"
            for panel, record in steps.get("discovery", {}).items() if record.get("status") != "ok"]

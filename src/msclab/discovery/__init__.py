"""Unsupervised discovery on gated flow panels: clusters, UMAP, annotation, paired differential abundance.

Per panel, the events of a parent population (default: the protocol's
``T cells`` gate) are pooled with a fixed number per sample, clustered
(a FlowSOM-style self-organising map with consensus metaclustering, or a scanpy
kNN graph + Leiden) and a seeded draw of them embedded (UMAP); clusters are named from
marker rules with a confidence and mapped to catalogue effects; and each
cluster's abundance is compared between the arms of every contrast, paired
by donor, with a moderated t (docs/discovery.md).

Layer: above :mod:`msclab.flow`, beside :mod:`msclab.readouts`; only the
pipeline, batch, report and CLI import it.
"""

from .abundance import abundance_table, differential_abundance
from .annotate import annotate_clusters, load_rules
from .run import OUTPUTS, DiscoveryResult, discover_panel, discovery_hook, discovery_warnings, write_discovery

__all__ = ["OUTPUTS", "DiscoveryResult", "abundance_table", "annotate_clusters", "differential_abundance",
           "discover_panel", "discovery_hook", "discovery_warnings", "load_rules", "write_discovery"]

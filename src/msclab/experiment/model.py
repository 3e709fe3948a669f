"""The experiment manifest (``experiment.yaml``) as pydantic models.

The manifest says what was done in words a biologist would use; the
samplesheet (``samplesheet.csv``, see :mod:`msclab.experiment.samplesheet`)
lists every sample. Paths in the manifest are relative to the manifest's
folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .contrasts import Contrast
from .modifiers import Modifiers

#: Experimental contexts of the effects catalogue (``msc_effects_catalogue.yaml``, meta.vocab.context).
CONTEXTS = ("in_vitro_human", "in_vitro_mouse", "sle_mouse_model", "sle_patient_trial", "other_disease_model")

#: Kinds of control sample a samplesheet row can be.
CONTROL_TYPES = ("", "fmo", "unstained", "single_stain", "unstimulated", "isotype", "bridge")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BatchNormalisation(_Strict):
    """Quantile normalisation of a panel's events to a reference batch, before gating.

    The samplesheet's ``batch`` column names each file's acquisition batch;
    in every batch one or more rows of the panel with ``control_type: bridge``
    are the same reference sample acquired again. Per channel the bridge's
    quantiles in a batch are mapped onto its quantiles in the reference batch
    (CytoNorm's quantile step; Van Gassen et al., Cytometry A 2020;97:268-278)
    and every event of the batch is moved by that map (docs/normalisation.md).

    Attributes
    ----------
    batch
        Samplesheet column that names the batch.
    reference_batch
        The batch whose scale the others are brought onto (default: the first
        batch in samplesheet order).
    channels
        Markers (or detectors) to normalise; empty: every fluorescence marker
        of the panel.
    quantiles
        Number of quantile levels matched, evenly spaced from 1% to 99%.
    """

    batch: str = "batch"
    reference_batch: str | None = None
    channels: list[str] = Field(default_factory=list)
    quantiles: int = Field(default=99, ge=5, le=999)


class Discovery(_Strict):
    """Unsupervised discovery on a panel's events: clustering, UMAP, annotation, differential abundance.

    Present (``discovery: {}`` or with options) it runs on every ``msclab
    analyze`` of the experiment, as ``--discovery`` does for every panel
    (docs/discovery.md).

    Attributes
    ----------
    markers
        Markers to cluster on; empty: the panel's markers without viability
        dyes, proliferation dyes and scatter.
    parent
        The gated population whose events are clustered; empty: the
        protocol's ``T cells`` gate, else its ``CD45+``, ``Live`` or
        ``Singlets`` gate, else every event.
    events_per_sample
        Events drawn (without replacement, seeded) from each sample's parent
        population; a sample with fewer gives all of its events.
    method
        Clustering method: ``som`` (FlowSOM-style self-organising map +
        consensus metaclustering; the default, chosen by measurement in
        docs/performance.md) or ``leiden`` (scanpy neighbours graph + Leiden).
    resolution
        Leiden resolution (higher: more, smaller clusters).
    n_neighbors
        Neighbours of the kNN graph (Leiden and UMAP).
    grid
        Side of the square SOM grid (``som``).
    n_metaclusters
        Metaclusters of the SOM nodes (``som``).
    umap_events
        Events embedded by UMAP at most (a seeded draw beyond that).
    seed
        Seed of the subsampling, the graph, Leiden, the SOM and UMAP; empty:
        the analysis seed.
    """

    markers: list[str] = Field(default_factory=list)
    parent: str | None = None
    events_per_sample: int = Field(default=10000, ge=50)
    method: Literal["leiden", "som"] = "som"
    resolution: float = Field(default=2.0, gt=0, le=50)
    n_neighbors: int = Field(default=15, ge=2, le=200)
    grid: int = Field(default=10, ge=2, le=100)
    n_metaclusters: int = Field(default=30, ge=2, le=1000)
    umap_events: int = Field(default=20_000, ge=100)
    seed: int | None = Field(default=None, ge=0)


class Panel(_Strict):
    """A staining panel: which marker each detector reads, and how it is gated.

    Attributes
    ----------
    markers
        Detector (``$PnN``) -> marker, e.g. ``{"R670-A": "FoxP3"}``.
    protocol
        The gating protocol: a built-in name (``treg``, ``th_ics`` ...) or a
        path to a protocol YAML, GatingML 2.0 XML or FlowJo workspace.
    controls
        Marker -> the control that sets its threshold (``fmo`` or
        ``unstimulated``). Every donor with samples on this panel must have
        that control.
    normalisation
        Batch normalisation of the events before gating
        (:class:`BatchNormalisation`); none when absent.
    discovery
        Unsupervised discovery on this panel (:class:`Discovery`); off when
        absent (unless ``msclab analyze --discovery``).
    description
        Free text.
    """

    markers: dict[str, str] = Field(min_length=1)
    protocol: str | None = None
    controls: dict[str, Literal["fmo", "unstimulated", "isotype"]] = Field(default_factory=dict)
    normalisation: BatchNormalisation | None = None
    discovery: Discovery | None = None
    description: str = ""


class Assay(_Strict):
    """A cytokine assay export (one plate-reader file or multiplex export).

    Attributes
    ----------
    id
        A short name for this plate or run.
    file
        The export as the instrument wrote it.
    format
        Reader to use (``auto`` sniffs it).
    layout
        Plate layout file (wells -> standards, blanks, samples), if the export
        does not carry one.
    analyte
        The analyte of a single-analyte ELISA plate.
    unit
        Concentration unit of the standards.
    beads
        Bead-array panel YAML (LEGENDplex/CBA read on a cytometer); ``file``
        is then the folder of the plate's FCS files, one per well.
    """

    id: str
    file: Path
    format: str = "auto"
    layout: Path | None = None
    analyte: str | None = None
    unit: str = "pg/mL"
    beads: Path | None = None


class ExperimentSpec(_Strict):
    """The whole manifest.

    Attributes
    ----------
    name
        Study name shown in the report.
    samplesheet
        The samplesheet CSV (or XLSX).
    context
        Experimental context for the catalogue comparison.
    plate_format
        96 or 384 wells.
    panels
        Panel name -> :class:`Panel`.
    assays
        Cytokine assay exports.
    contrasts
        What to compare (:class:`msclab.experiment.contrasts.Contrast`).
    catalogue_mapping
        Readout id -> catalogue effect id, overriding the defaults.
    catalogue
        A local catalogue file that extends or overrides the built-in one.
    modifiers
        Statements about the MSCs that weaken the catalogue's expectations
        (ratio, culture, licensing, SLE-derived), overriding what the
        samplesheet says (:class:`msclab.experiment.modifiers.Modifiers`).
    """

    name: str
    description: str = ""
    samplesheet: Path
    context: Literal[CONTEXTS] = "in_vitro_human"  # type: ignore[valid-type]
    plate_format: Literal[96, 384] = 96
    panels: dict[str, Panel] = Field(default_factory=dict)
    assays: list[Assay] = Field(default_factory=list)
    contrasts: list[Contrast] = Field(default_factory=list)
    catalogue_mapping: dict[str, str] = Field(default_factory=dict)
    catalogue: Path | None = None
    modifiers: Modifiers = Field(default_factory=Modifiers)

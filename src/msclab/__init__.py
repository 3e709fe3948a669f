"""msclab: from raw MSC co-culture experiments to effects scored against the literature.

The public API follows the ecosystem's shapes (see ``docs/api.md``):

- :func:`read_experiment` reads ``experiment.yaml`` + ``samplesheet.csv``;
- :func:`analyze` runs the whole analysis and returns an ``AnalysisResult``;
- :mod:`msclab.io`: :func:`~msclab.io.read_fcs` (one FCS file as AnnData, obs = events),
  :func:`~msclab.io.open_fcs`, :func:`~msclab.io.read_assay`;
- :mod:`msclab.flow`: :func:`~msclab.flow.gate`, :func:`~msclab.flow.quantify_panel`,
  :func:`~msclab.flow.load_protocol`;
- :mod:`msclab.assay`: :func:`~msclab.assay.fit_curve`, :func:`~msclab.assay.quantify`;
- :mod:`msclab.pl`: plots that draw on a matplotlib ``ax=``.

Subpackages and functions are imported on first use, so ``import msclab`` is quick.
"""

from __future__ import annotations

from importlib import metadata

from ._lazy import attach

try:
    __version__ = metadata.version("msclab")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Experiment": ".experiment",
        "read_experiment": ".experiment",
        "MsclabError": ".errors",
        "analyze": ".pipeline",
        "Settings": ".pipeline",
        "AnalysisResult": ".pipeline",
    },
    ("assay", "batch", "catalogue", "compare", "experiment", "flow", "io", "normalise", "pipeline", "pl", "plan",
     "readouts", "report", "simulate", "stats"),
)
__all__ = [*__all__, "__version__"]

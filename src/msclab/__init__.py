"""msclab: from raw MSC co-culture experiments to effects scored against the literature.

The public API follows the ecosystem's shapes:

- :func:`read_experiment` reads ``experiment.yaml`` + ``samplesheet.csv``;
- :func:`msclab.io.read_fcs` reads one FCS file as AnnData (obs = events);
- the sample x readout matrix is an AnnData built by :func:`msclab.readouts.build_readouts`.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("msclab")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from . import io  # noqa: E402
from .errors import MsclabError  # noqa: E402
from .experiment import Experiment, read_experiment  # noqa: E402
from . import plan  # noqa: E402  (callable package: msclab.plan(...) returns the plan table)

__all__ = ["Experiment", "MsclabError", "__version__", "io", "plan", "read_experiment"]

"""Reading FCS 2.0, 3.0, 3.1 and 3.2 files into AnnData.

:func:`read_fcs` decodes the events (obs) x channels (var) with numpy;
:func:`open_fcs` reads only the metadata. Every departure from the standard
that is accepted is recorded in plain sentences (``uns['fcs']['leniencies']``,
:attr:`FCSFile.leniencies`); files that cannot be read safely raise
:class:`msclab.errors.FCSError`. See ``docs/fcs.md``.
"""

from ._channels import CHANNEL_TYPES, Channel
from .reader import IDENTITY_KEYWORDS, DataSet, FCSFile, open_fcs, read_fcs
from .spillover import SPILLOVER_KEYWORDS, spillover_from_metadata

__all__ = [
    "CHANNEL_TYPES",
    "IDENTITY_KEYWORDS",
    "SPILLOVER_KEYWORDS",
    "Channel",
    "DataSet",
    "FCSFile",
    "open_fcs",
    "read_fcs",
    "spillover_from_metadata",
]

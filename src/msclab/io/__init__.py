"""Readers: FCS files, plate-reader and multiplex exports.

- :func:`read_fcs` reads one FCS file as AnnData (obs = events, var = channels);
- :func:`open_fcs` reads only its metadata (:class:`FCSFile`);
- :func:`read_assay` reads any plate-reader or multiplex export (:class:`AssayExport`),
  its format recognised by the :data:`~msclab.io.assay.READERS` table.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "FCSFile": ".fcs",
        "open_fcs": ".fcs",
        "read_fcs": ".fcs",
        "spillover_from_metadata": ".fcs",
        "AssayExport": ".assay_export",
        "read_assay": ".assay",
        "detect_format": ".assay",
        "READERS": ".assay",
        "read_layout": ".layout",
    },
    ("assay", "assay_export", "bioplex", "fcs", "layout", "luminex", "plate_reader"),
)

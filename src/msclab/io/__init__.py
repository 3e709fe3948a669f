"""Readers: FCS files, plate-reader and multiplex exports."""

from .fcs import FCSFile, open_fcs, read_fcs, spillover_from_metadata

__all__ = ["FCSFile", "open_fcs", "read_fcs", "spillover_from_metadata"]

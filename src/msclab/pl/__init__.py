"""Plots for notebooks, in the scanpy style: each draws on ``ax=`` (or a new figure) and returns it.

- :func:`curve`: a standard curve with its standards, LLOQ/ULOQ and samples;
- :func:`gate`: one resolved gate on its parent's events;
- :func:`gates`: every gate of a resolved sample, one axis each;
- :func:`forest`: measured effects with CIs beside the catalogue's expected directions.

Nothing here selects a matplotlib backend: the notebook's stays as it is. With
``ax=None`` a new pyplot figure is made, as ``plt.subplots()`` would.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {"curve": "._plots", "gate": "._plots", "gates": "._plots", "forest": "._plots"},
)

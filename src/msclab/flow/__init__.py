"""Flow cytometry: gating, population statistics and the panel quantifier.

- :func:`gate`: gate FCS files with a GatingML, FlowJo or protocol strategy;
- :func:`quantify_panel`: every population and marker readout of one panel of an experiment;
- :func:`load_protocol`: a shipped or local gating protocol (``docs/protocols.md``);
- :mod:`~msclab.flow.gating`, :mod:`~msclab.flow.protocols`, :mod:`~msclab.flow.compensation`,
  :mod:`~msclab.flow.transforms`, :mod:`~msclab.flow.beads`: the parts.

Names are imported on first use.
"""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "gate": ".gate_fcs",
        "quantify_panel": ".panel",
        "PanelResult": ".panel",
        "load_protocol": ".protocols",
        "read_strategy": ".source",
        "read_bead_plate": ".beads",
    },
    ("beads", "compensation", "gating", "panel", "plots", "protocols", "transforms"),
)

"""Cytokine-assay quantification: standard curves (``curves``), ICH M10 quality (``qc``),
concentrations with flags (``quantify``) and plots (``plots``)."""

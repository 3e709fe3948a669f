"""Which catalogue effect a measured cytokine (or other soluble mediator) informs.

Assay exports name analytes in many spellings (``IFN-g``, ``IFN-γ``,
``IFNg``, ``Interferon gamma``, ``hIFN-gamma``). :func:`catalogue_id_for_analyte`
reduces a name to its letters and digits and looks it up among the
catalogue's soluble-mediator entries (``msc_catalogue.md`` §1.5).
"""

from __future__ import annotations

import re

#: Squashed analyte name -> catalogue effect id (soluble mediators of the catalogue).
ANALYTE_EFFECTS = {
    "ifng": "ifng", "ifngamma": "ifng", "interferongamma": "ifng",
    "tnfa": "tnfa", "tnfalpha": "tnfa", "tnf": "tnfa", "tumornecrosisfactoralpha": "tnfa",
    "il17a": "il17a", "il17": "il17a",
    "il12": "il12", "il12p70": "il12", "il12p40": "il12",
    "il10": "il10",
    "tgfb1": "tgfb1", "tgfbeta1": "tgfb1", "tgfb": "tgfb1", "tgfbeta": "tgfb1",
    "il6": "il6",
    "il4": "il4",
    "il2": "il2",
    "il21": "il21",
    "gmcsf": "gm_csf", "csf2": "gm_csf",
    "pge2": "pge2", "prostaglandine2": "pge2",
    "kynurenine": "ido_activity", "kyntrp": "ido_activity", "kynurininetryptophan": "ido_activity",
    "flt3l": "serum_flt3l", "flt3ligand": "serum_flt3l",
    "mcp1": "mcp1_hmgb1", "ccl2": "mcp1_hmgb1", "hmgb1": "mcp1_hmgb1",
}
_PREFIX = re.compile(r"^(h|hu|human|m|mu|mouse)(?=il|ifn|tnf|tgf|gm)")


def squash(name: str) -> str:
    """Lower-case letters and digits only, Greek letters spelled out (``IFN-γ`` -> ``ifng``)."""
    text = str(name).lower().replace("γ", "g").replace("α", "a").replace("β", "b")
    text = re.sub(r"[^a-z0-9]", "", text)
    return _PREFIX.sub("", text)


def catalogue_id_for_analyte(name: str) -> str:
    """The catalogue effect id of an analyte, or ``""`` when the catalogue has none."""
    return ANALYTE_EFFECTS.get(squash(name), "")

"""Analyte names in their many spellings find their catalogue entry."""

import pytest

from msclab.catalogue import load_catalogue
from msclab.compare.analytes import ANALYTE_EFFECTS, catalogue_id_for_analyte


@pytest.mark.parametrize("name, effect", [
    ("IFN-g", "ifng"), ("IFN-γ", "ifng"), ("hIFN-gamma", "ifng"), ("Interferon gamma", "ifng"),
    ("TNF-α", "tnfa"), ("TNF-a", "tnfa"), ("IL-17A", "il17a"), ("IL-10", "il10"), ("IL-12p70", "il12"),
    ("TGF-β1", "tgfb1"), ("GM-CSF", "gm_csf"), ("PGE2", "pge2"), ("IL-8", ""), ("unnamed", ""),
])
def test_spellings(name, effect):
    assert catalogue_id_for_analyte(name) == effect


def test_every_target_is_a_catalogue_entry():
    ids = set(load_catalogue().effects)
    assert set(ANALYTE_EFFECTS.values()) <= ids

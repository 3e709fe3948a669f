"""The staining panels a simulated study can acquire.

``th_ics`` and ``treg`` (the default) resolve T-cell states with the T-cell
model of :mod:`msclab.simulate.cytometer`; the other panels add phenotype rules
(:mod:`msclab.simulate.phenotype`) for the populations their shipped gating
protocol reports. Marker names are those the protocols match. Every panel is
read on the same instrument: the nine detectors of
:data:`~msclab.simulate.cytometer.DETECTORS`, and ``dc``, which needs ten
markers, also V610-A (BV605).

Which cells a panel sees:

- lymphocyte panels (``tfh``, ``b_cells``, ``nk``, ``cd8_ctl``): the culture as
  harvested, like ``th_ics`` and ``treg``;
- ``dc``: the culture after CD3/CD19/CD56 magnetic depletion (DC-enriched:
  cDCs 11% and pDCs 4% of events, with CD14+ monocytes and residual
  lymphocytes), as DCs are under 1% of PBMC;
- ``macrophage``: the adherent cells of the culture (monocyte-derived
  macrophages 55% of events, adherent MSCs at 5x their share of the culture,
  some lymphocytes). The viability dye and the gating markers (CD45, CD14)
  are in red detectors, where macrophages and MSCs are least autofluorescent:
  a violet-excited viability dye would not separate dead cells from live
  macrophages, and a violet CD14 would call autofluorescent MSCs CD14+;
- ``msc_identity``: the MSC lot itself (ISCT phenotype), with FSC/SSC gain
  lowered for the large cells.

Intensities are in the simulator's units (negative cells near 0, noise SD 35;
dim positives 1,500-3,000, bright 10,000-30,000).
"""

from __future__ import annotations

from .cytometer import TH_ICS, TREG, PanelDesign
from .phenotype import Expression as E
from .phenotype import Flag, Subsets

_T_LYMPH = ("cd4", "cd8", "dn_t", "b", "nk")

TFH = PanelDesign(
    "tfh",
    {"CD45": "BV421", "Viability": "BV510", "CD3": "FITC", "CD8": "PerCP-Cy5.5", "CXCR5": "PE",
     "ICOS": "PE-Cy7", "PD-1": "APC", "CD45RA": "AF700", "CD4": "APC-Cy7"},
    (), description="Circulating-type T follicular helper cells (CXCR5, PD-1, ICOS on CD45RA- CD4)",
    controls={"CXCR5": "fmo", "PD-1": "fmo"},
    subsets=(Subsets("cd4", (("tfh", "tfh"), ("cxcr5_memory", "cxcr5_memory"), ("pd1_memory", "pd1_memory"),
                             ("memory", "memory_other")), rest="naive"),),
    expression=(
        E("CD45RA", "b", 5000, 0.3), E("CD45RA", "nk", 4000, 0.3), E("CD45RA", "cd8", 3500, 0.4),
        E("CD45RA", "dn_t", 2500, 0.4), E("CD45RA", "cd4.naive", 5000, 0.3),
        E("CXCR5", "b", 6000, 0.3), E("CXCR5", "cd4.tfh", 2500, 0.35), E("CXCR5", "cd4.cxcr5_memory", 2500, 0.35),
        E("PD-1", "cd4.tfh", 3000, 0.4), E("PD-1", "cd4.pd1_memory", 3000, 0.4),
        E("ICOS", "cd4.naive", 300, 0.5), E("ICOS", "cd4.memory", 800, 0.4), E("ICOS", "cd4.cxcr5_memory", 800, 0.4),
        E("ICOS", "cd4.pd1_memory", 2500, 0.35), E("ICOS", "cd4.tfh", 4000, 0.35),
    ),
)

_B_STATES = ("b_unswitched", "b_switched", "b_dn", "b_transitional", "plasmablast")
B_CELLS = PanelDesign(
    "b_cells",
    {"CD45": "BV421", "Viability": "BV510", "IgD": "FITC", "CD3": "PerCP-Cy5.5", "CD24": "PE", "CD38": "PE-Cy7",
     "CD27": "APC", "CD20": "AF700", "CD19": "APC-Cy7"},
    (), description="B-cell subsets (IgD/CD27, transitional CD24hi CD38hi, plasmablasts CD27hi CD38hi)",
    subsets=(Subsets("b", tuple((s, s) for s in _B_STATES), rest="b_naive"),),
    expression=(
        E("CD19", "b", 5000, 0.3), E("CD19", "b.plasmablast", 1500, 0.35),
        E("CD20", "b", 8000, 0.3), E("CD20", "b.plasmablast", 150, 0.6),
        E("CD27", "b.b_unswitched", 3000, 0.35), E("CD27", "b.b_switched", 3000, 0.35),
        E("CD27", "b.plasmablast", 15000, 0.3),
        E("CD38", "b", 250, 0.5), E("CD38", "b.b_naive", 1200, 0.4), E("CD38", "b.b_transitional", 6000, 0.3),
        E("CD38", "b.plasmablast", 30000, 0.3),
        E("IgD", "b.b_naive", 6000, 0.35), E("IgD", "b.b_transitional", 6000, 0.35),
        E("IgD", "b.b_unswitched", 4000, 0.35),
        E("CD24", "b.b_naive", 2000, 0.35), E("CD24", "b.b_transitional", 7000, 0.3),
        E("CD24", "b.b_unswitched", 6000, 0.35), E("CD24", "b.b_switched", 6000, 0.35),
        E("CD24", "b.b_dn", 1500, 0.4), E("CD24", "b.plasmablast", 100, 0.6),
    ),
)

NK = PanelDesign(
    "nk",
    {"CD45": "BV421", "Viability": "BV510", "CD3": "FITC", "CD107a": "PE", "CD56": "PE-Cy7", "IFN-g": "APC",
     "CD16": "APC-Cy7"},
    (), description="NK cells (CD56bright/dim) with CD107a and IFN-γ after 4 h with K562 targets",
    controls={"CD107a": "unstimulated", "IFN-g": "unstimulated"},
    # CD56dim CD16- NK cells sit beside the CD56bright CD16- ones (the hard case of the CD56bright gate).
    subsets=(Subsets("nk", (("nk_bright", "nk_bright"), ("nk_dim_cd16neg", "nk_dim_cd16neg")), rest="nk_dim"),),
    flags=(Flag("cd107a", "nk", "nk_cd107a"), Flag("ifng", "nk", "nk_ifng")),
    expression=(
        E("CD56", "nk.nk_dim", 3000, 0.35), E("CD56", "nk.nk_bright", 20000, 0.3),
        E("CD56", "nk.nk_dim_cd16neg", 3000, 0.35),
        E("CD16", "monocyte", 1000, 0.5), E("CD16", "nk.nk_dim", 8000, 0.4), E("CD16", "nk.nk_bright", 200, 0.6),
        E("CD16", "nk.nk_dim_cd16neg", 250, 0.6),
        E("CD107a", "nk+cd107a", 3000, 0.45), E("IFN-g", "nk+ifng", 4000, 0.45),
    ),
)

CD8_CTL = PanelDesign(
    "cd8_ctl",
    {"CD45": "BV421", "Viability": "BV510", "CD3": "FITC", "CD8": "PerCP-Cy5.5", "CD107a": "PE",
     "Granzyme B": "APC", "CD4": "APC-Cy7"},
    (), description="Cytotoxic CD8 T cells (CD107a degranulation, granzyme B) after 5 h anti-CD3 restimulation",
    controls={"CD107a": "unstimulated", "Granzyme B": "fmo"},
    subsets=(Subsets("cd8", (("ctl", "cd8_ctl"), ("cd107a_only", "cd8_cd107a_only"),
                             ("gzmb_only", "cd8_gzmb_only")), rest="none"),),
    expression=(
        E("CD107a", "cd8.ctl", 3000, 0.45), E("CD107a", "cd8.cd107a_only", 3000, 0.45),
        E("Granzyme B", "nk", 8000, 0.35), E("Granzyme B", "cd8.ctl", 6000, 0.4),
        E("Granzyme B", "cd8.gzmb_only", 5000, 0.4),
    ),
)

#: Event fractions of the DC-enriched acquisition (cDC, pDC; the rest lymphocytes left by the depletion).
DC_FRACTIONS = {"cdc": 0.11, "pdc": 0.04, "monocyte": 0.20}
DC = PanelDesign(
    "dc",
    {"CD45": "BV421", "Viability": "BV510", "Lineage": "FITC", "HLA-DR": "BV605", "CD11c": "PerCP-Cy5.5",
     "CD86": "PE", "CD123": "PE-Cy7", "CD1c": "APC", "CD83": "AF700", "CD80": "APC-Cy7"},
    (), description="Dendritic cells (Lineage CD3/CD14/CD16/CD19/CD20/CD56 dump) after CD3/CD19/CD56 depletion",
    controls={"CD86": "unstimulated", "CD83": "unstimulated", "CD80": "unstimulated"},
    mixture=(("debris", 0.08), ("doublet", 0.03), ("monocyte", DC_FRACTIONS["monocyte"]), ("msc", None),
             ("cdc", DC_FRACTIONS["cdc"]), ("pdc", DC_FRACTIONS["pdc"])),
    subsets=(Subsets("cdc", (("cdc2", "cdc2"),), rest="cdc1"),),
    flags=(Flag("mature", "cdc", "dc_mature"),),
    expression=(
        E("CD45", "cdc", 5000, 0.25), E("CD45", "pdc", 5000, 0.25),
        *(E("Lineage", t, 6000, 0.3) for t in _T_LYMPH), E("Lineage", "monocyte", 8000, 0.3),
        E("HLA-DR", "b", 8000, 0.3), E("HLA-DR", "monocyte", 6000, 0.35), E("HLA-DR", "cdc", 15000, 0.35),
        E("HLA-DR", "pdc", 5000, 0.35),
        E("CD11c", "nk", 500, 0.5), E("CD11c", "monocyte", 5000, 0.35), E("CD11c", "cdc", 8000, 0.35),
        E("CD123", "other", 1500, 0.4), E("CD123", "cdc", 300, 0.5), E("CD123", "pdc", 10000, 0.35),
        E("CD1c", "b", 1500, 0.5), E("CD1c", "cdc.cdc2", 5000, 0.4),
        E("CD86", "monocyte", 2000, 0.4), E("CD86", "pdc", 300, 0.5), E("CD86", "cdc", 400, 0.5),
        E("CD86", "cdc+mature", 8000, 0.4), E("CD83", "cdc+mature", 3000, 0.45), E("CD80", "cdc+mature", 2500, 0.45),
    ),
)

#: Event fraction of macrophages in the adherent harvest, and MSC carry-over relative to the culture.
MACROPHAGE_FRACTION, ADHERENT_MSC_SCALE = 0.55, 5.0
MACROPHAGE = PanelDesign(
    "macrophage",
    {"HLA-DR": "BV421", "CD11b": "BV510", "CD80": "FITC", "CD163": "PerCP-Cy5.5", "CD86": "PE",
     "CD14": "PE-Cy7", "CD206": "APC", "CD45": "AF700", "Viability": "APC-Cy7"},
    (), description="Monocyte-derived macrophages of the adherent fraction (M1-like CD80/CD86, M2-like CD206/CD163)",
    controls={"CD86": "fmo", "CD206": "fmo", "CD163": "fmo"},
    mixture=(("debris", 0.08), ("doublet", 0.03), ("macrophage", MACROPHAGE_FRACTION), ("msc", None)),
    msc_scale=ADHERENT_MSC_SCALE,
    subsets=(Subsets("macrophage", (("m1", "m1"), ("m2", "m2"), ("m2_cd163", "m2_cd163")), rest="m0"),),
    expression=(
        E("CD45", "macrophage", 5000, 0.3),
        E("CD14", "monocyte", 8000, 0.3), E("CD14", "macrophage", 6000, 0.4),
        E("CD11b", "nk", 1500, 0.4), E("CD11b", "monocyte", 6000, 0.3), E("CD11b", "macrophage", 5000, 0.4),
        E("HLA-DR", "b", 8000, 0.3), E("HLA-DR", "macrophage", 3000, 0.4), E("HLA-DR", "macrophage.m1", 12000, 0.35),
        E("CD86", "macrophage.m1", 7000, 0.4), E("CD80", "macrophage.m1", 2500, 0.45),
        E("CD206", "macrophage.m2", 5000, 0.4),
        E("CD163", "macrophage.m2", 4000, 0.4), E("CD163", "macrophage.m2_cd163", 4000, 0.4),
    ),
)

#: ISCT markers of the MSC identity panel: marker -> (flag, median of the positive cells).
ISCT_MARKERS = {"CD73": ("cd73", 20000), "CD90": ("cd90", 20000), "CD105": ("cd105", 10000),
                "CD45": ("cd45", 12000), "CD34": ("cd34", 4000), "CD14": ("cd14", 4000),
                "CD19": ("cd19", 4000), "HLA-DR": ("hladr", 4000)}
MSC_IDENTITY = PanelDesign(
    "msc_identity",
    {"CD45": "BV421", "Viability": "BV510", "CD90": "FITC", "CD105": "PerCP-Cy5.5", "CD34": "PE", "CD14": "PE-Cy7",
     "CD73": "APC", "CD19": "AF700", "HLA-DR": "APC-Cy7"},
    (), description="MSC identity (ISCT: CD73, CD90, CD105 positive; CD45, CD34, CD14, CD19, HLA-DR negative)",
    controls={m: "fmo" for m in ISCT_MARKERS},
    mixture=(("debris", 0.05), ("dead", 0.04)), rest="msc", scatter_gain=0.6, source="msc",
    flags=tuple(Flag(flag, "msc", f"msc_{flag}") for flag, _ in ISCT_MARKERS.values()),
    expression=tuple(E(marker, f"msc+{flag}", median, 0.35) for marker, (flag, median) in ISCT_MARKERS.items()),
)

#: Every panel by name; the default study acquires ``DEFAULT_PANELS``.
PANELS = {p.name: p for p in (TH_ICS, TREG, TFH, B_CELLS, NK, CD8_CTL, DC, MACROPHAGE, MSC_IDENTITY)}
DEFAULT_PANELS = ("th_ics", "treg")

__all__ = ["DEFAULT_PANELS", "PANELS"]

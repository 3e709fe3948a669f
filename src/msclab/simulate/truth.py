"""The true populations of one acquisition, named as the panel's shipped protocol reports them.

For each population: its parent (as the protocol's tree has it), the planted
fraction of the parent, and the realised count, parent count and fraction in
the file (from the per-event labels). Phenotypes follow the gates: the IgD-
CD27+ quadrant holds the plasmablasts as well as switched memory B cells, and
transitional B cells are IgD+ CD27-, so they are among the naive-quadrant cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .cytometer import _B_OF_NON_T, _DEAD, _NK_OF_NON_T, PanelDesign, SampleComposition
from .panels import ISCT_MARKERS

_LYMPH = ["cd4", "cd8", "dn_t", "b", "nk", "other"]
Rows = dict[str, tuple[str, float, pd.Series, pd.Series]]


def truth_populations(comp: SampleComposition, subsets: Mapping[str, float], panel: PanelDesign,
                      labels: pd.DataFrame) -> dict:
    """Planted and realised frequency of each reported population (fractions of the parent).

    Parameters
    ----------
    comp
        The culture's composition.
    subsets
        The culture's subset fractions (:func:`msclab.simulate.subsets.culture_subsets`).
    panel
        The panel acquired.
    labels
        Per-event labels of the file (:func:`msclab.simulate.cytometer.draw_events`).
    """
    f = vars(comp) | dict(subsets)
    rows = _ROWS[panel.name](f, _Labels(labels, _shares(panel, comp.msc_fraction)))
    return {
        name: {"parent": parent, "planted": round(planted, 6), "count": int(member.sum()),
               "parent_count": int(base.sum()), "observed": round(float(member.sum() / max(base.sum(), 1)), 6)}
        for name, (parent, planted, member, base) in rows.items()
    }


def _shares(panel: PanelDesign, msc_fraction: float) -> dict[str, float]:
    """Planted share of all events of each event type of the panel's mixture (``lymph`` with its dead cells)."""
    shares = {t: msc_fraction * panel.msc_scale if v is None else v for t, v in panel.mixture}
    return shares | {panel.rest: 1 - sum(shares.values())}


class _Labels:
    """Per-event labels with the masks the rows need."""

    def __init__(self, labels: pd.DataFrame, shares: dict[str, float]) -> None:
        self.frame = labels
        self.shares = shares
        self.ct = labels["cell_type"].astype(str)
        self.st = labels["state"].astype(str)
        self.lymph = self.ct.isin(_LYMPH)
        self.t = self.ct.isin(["cd4", "cd8", "dn_t"])

    def of(self, cell_type: str, *states: str) -> pd.Series:
        mask = self.ct == cell_type
        return mask & self.st.isin(states) if states else mask

    def flag(self, name: str) -> pd.Series:
        return self.frame[name].astype(bool)


def _t_cells(f: Mapping[str, float], lab: _Labels) -> Rows:
    cd4, cd8 = lab.of("cd4"), lab.of("cd8")
    return {
        "T cells": ("Live lymphocytes", f["t_of_lymph"], lab.t, lab.lymph),
        "CD4": ("T cells", f["cd4_of_t"], cd4, lab.t),
        "CD8": ("T cells", f["cd8_of_t"], cd8, lab.t),
    }


def _th_ics(f: Mapping[str, float], lab: _Labels) -> Rows:
    cd4, cd8 = lab.of("cd4"), lab.of("cd8")
    return _t_cells(f, lab) | {
        "Th1": ("CD4", f["th1"], lab.of("cd4", "th1"), cd4),
        "Th17": ("CD4", f["th17"], lab.of("cd4", "th17"), cd4),
        "Th1/17": ("CD4", f["th1_17"], lab.of("cd4", "th1_17"), cd4),
        "Th2": ("CD4", f["th2"], lab.of("cd4", "th2"), cd4),
        "Tc1": ("CD8", f["tc1"], lab.of("cd8", "tc1"), cd8),
    }


def _treg(f: Mapping[str, float], lab: _Labels) -> Rows:
    cd4, cd8 = lab.of("cd4"), lab.of("cd8")
    gen = lab.frame["generation"]
    return _t_cells(f, lab) | {
        "Treg": ("CD4", f["treg"], lab.of("cd4", "treg"), cd4),
        "CD25+FoxP3+": ("CD4", f["treg"] + f["foxp3_activated"], lab.of("cd4", "treg", "foxp3_activated"), cd4),
        "CD4 divided": ("CD4", f["divided_cd4"], cd4 & (gen > 0), cd4),
        "CD8 divided": ("CD8", f["divided_cd8"], cd8 & (gen > 0), cd8),
    }


def _tfh(f: Mapping[str, float], lab: _Labels) -> Rows:
    cd4 = lab.of("cd4")
    memory = lab.of("cd4", "tfh", "cxcr5_memory", "pd1_memory", "memory")
    m = f["memory_cd4"]
    return {k: v for k, v in _t_cells(f, lab).items() if k != "CD8"} | {
        "Memory CD4": ("CD4", m, memory, cd4),
        "Tfh": ("Memory CD4", f["tfh"] / m, lab.of("cd4", "tfh"), memory),
        "CXCR5+ PD-1-": ("Memory CD4", f["cxcr5_memory"] / m, lab.of("cd4", "cxcr5_memory"), memory),
    }


def _b_cells(f: Mapping[str, float], lab: _Labels) -> Rows:
    b = lab.of("b")
    naive = 1 - sum(f[k] for k in ("b_unswitched", "b_switched", "b_dn", "b_transitional", "plasmablast"))
    cd27_neg = naive + f["b_transitional"] + f["b_dn"]
    cd27_neg_cells = lab.of("b", "b_naive", "b_transitional", "b_dn")
    return {
        "B cells": ("Live lymphocytes", (1 - f["t_of_lymph"]) * _B_OF_NON_T, b, lab.lymph),
        "Naive B": ("B cells", naive + f["b_transitional"], lab.of("b", "b_naive", "b_transitional"), b),
        "Unswitched memory B": ("B cells", f["b_unswitched"], lab.of("b", "b_unswitched"), b),
        "Switched memory B": ("B cells", f["b_switched"] + f["plasmablast"],
                              lab.of("b", "b_switched", "plasmablast"), b),
        "Double negative B": ("B cells", f["b_dn"], lab.of("b", "b_dn"), b),
        "CD27- B": ("B cells", cd27_neg, cd27_neg_cells, b),
        "Transitional B": ("CD27- B", f["b_transitional"] / cd27_neg, lab.of("b", "b_transitional"), cd27_neg_cells),
        "Plasmablasts": ("B cells", f["plasmablast"], lab.of("b", "plasmablast"), b),
        # The CD24hi CD38hi (Breg phenotype) gate of all B cells: the transitional cells are the only
        # planted CD24hi CD38hi state (memory B cells are CD24hi CD38lo, plasmablasts CD24lo CD38hi).
        "Breg CD24hi CD38hi": ("B cells", f["b_transitional"], lab.of("b", "b_transitional"), b),
    }


def _nk(f: Mapping[str, float], lab: _Labels) -> Rows:
    nk = lab.of("nk")
    non_t = lab.lymph & ~lab.t
    return {
        "CD3-": ("Live lymphocytes", 1 - f["t_of_lymph"], non_t, lab.lymph),
        "NK cells": ("CD3-", _NK_OF_NON_T, nk, non_t),
        "CD56bright": ("NK cells", f["nk_bright"], lab.of("nk", "nk_bright"), nk),
        "CD56dim": ("NK cells", 1 - f["nk_bright"] - f["nk_dim_cd16neg"], lab.of("nk", "nk_dim"), nk),
        "CD107a+ NK": ("NK cells", f["nk_cd107a"], nk & lab.flag("cd107a"), nk),
        "IFN-g+ NK": ("NK cells", f["nk_ifng"], nk & lab.flag("ifng"), nk),
    }


def _cd8_ctl(f: Mapping[str, float], lab: _Labels) -> Rows:
    cd8 = lab.of("cd8")
    return {k: v for k, v in _t_cells(f, lab).items() if k != "CD4"} | {
        "CD107a+": ("CD8", f["cd8_cd107a"], lab.of("cd8", "ctl", "cd107a_only"), cd8),
        "GzmB+": ("CD8", f["cd8_gzmb"], lab.of("cd8", "ctl", "gzmb_only"), cd8),
        "CD107a+ GzmB+": ("CD8", f["cd8_ctl"], lab.of("cd8", "ctl"), cd8),
    }


def _dc(f: Mapping[str, float], lab: _Labels) -> Rows:
    cdc, dcs = lab.of("cdc"), lab.ct.isin(["cdc", "pdc"])
    leukocytes = lab.ct.isin([*_LYMPH, "monocyte", "cdc", "pdc"])
    lin_neg = lab.ct.isin(["cdc", "pdc", "other"])
    share = lab.shares
    n_dc = share["cdc"] + share["pdc"]
    live_lymph = share["lymph"] * (1 - _DEAD)
    other = live_lymph * (1 - f["t_of_lymph"]) * (1 - _B_OF_NON_T - _NK_OF_NON_T)
    mature = cdc & lab.flag("mature")
    return {
        "Lin-": ("Live CD45+ cells", (n_dc + other) / (live_lymph + share["monocyte"] + n_dc), lin_neg, leukocytes),
        "HLA-DR+": ("Lin-", n_dc / (n_dc + other), dcs, lin_neg),
        "cDC": ("HLA-DR+", share["cdc"] / n_dc, cdc, dcs),
        "pDC": ("HLA-DR+", share["pdc"] / n_dc, lab.of("pdc"), dcs),
        "CD1c+ cDC2": ("cDC", f["cdc2"], lab.of("cdc", "cdc2"), cdc),
        "CD86+ cDC": ("cDC", f["dc_mature"], mature, cdc),
        "CD83+ cDC": ("cDC", f["dc_mature"], mature, cdc),
        "CD80+ cDC": ("cDC", f["dc_mature"], mature, cdc),
    }


def _macrophage(f: Mapping[str, float], lab: _Labels) -> Rows:
    mac = lab.of("macrophage")
    leukocytes = lab.ct.isin([*_LYMPH, "macrophage"])
    share = lab.shares
    return {
        "Macrophages": ("Live CD45+ cells", share["macrophage"] / (share["macrophage"] + share["lymph"] * (1 - _DEAD)),
                        mac, leukocytes),
        "CD86+ M1-like": ("Macrophages", f["m1"], lab.of("macrophage", "m1"), mac),
        "CD206+ M2-like": ("Macrophages", f["m2"], lab.of("macrophage", "m2"), mac),
        "CD163+": ("Macrophages", f["m2"] + f["m2_cd163"], lab.of("macrophage", "m2", "m2_cd163"), mac),
    }


def _msc_identity(f: Mapping[str, float], lab: _Labels) -> Rows:
    msc = lab.of("msc")
    rows: Rows = {f"{marker}+": ("Live cells", f[f"msc_{flag}"], msc & lab.flag(flag), msc)
                  for marker, (flag, _) in ISCT_MARKERS.items()}
    triple = msc & lab.flag("cd73") & lab.flag("cd90") & lab.flag("cd105")
    planted = float(np.prod([f["msc_cd73"], f["msc_cd90"], f["msc_cd105"]]))
    return rows | {"CD73+CD90+CD105+": ("Live cells", planted, triple, msc)}


_ROWS: dict[str, Callable[[Mapping[str, float], _Labels], Rows]] = {
    "th_ics": _th_ics, "treg": _treg, "tfh": _tfh, "b_cells": _b_cells, "nk": _nk, "cd8_ctl": _cd8_ctl,
    "dc": _dc, "macrophage": _macrophage, "msc_identity": _msc_identity,
}

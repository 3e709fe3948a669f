"""The endpoint models of a plan and their synthetic defaults (:func:`default_models`).

:func:`msclab.plan.calibration.from_analysis` estimates them from an earlier analysis instead.

Every :class:`EffectModel` carries the text of its sources, which the plan's
report lists as its assumptions.

Defaults are the simulator's (:mod:`msclab.simulate.effects`,
:mod:`msclab.simulate.study`): effect magnitudes and donor SDs of
``msc_catalogue.md`` §4 (synthetic defaults, typical literature ranges), donor
baselines of §4, culture noise of :data:`msclab.simulate.subsets.CULTURE_SD`
and the ELISA kits' lowest standards as LLOQ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..simulate.effects import DEFAULT_EFFECTS
from ..simulate.elisa import _CV as READ_CV
from ..simulate.elisa import _SD as READ_SD
from ..simulate.elisa import KITS
from ..simulate.subsets import CULTURE_SD

FREQUENCY, PROLIFERATION, CONCENTRATION = "frequency", "proliferation", "concentration"
#: A plain paired design: donor effects normal around the effect, no technical noise (for checks).
NORMAL = "normal"

#: Share of acquired events that are live single CD4 / CD8 T cells in the simulated study:
#: the lymphocyte gate keeps 0.75 of events (``example_data`` analysed: median 3,010 of 4,000) x T of
#: lymphocytes 0.70 x CD4 of T 0.62 (CD8 of T 0.30), the §4 baselines of ``msclab.simulate.study``.
PARENT_SHARE = {"CD4": 0.75 * 0.70 * 0.62, "CD8": 0.75 * 0.70 * 0.30}

_SOURCE_BASE = "msc_catalogue.md §4 donor baselines (msclab.simulate.study)"
_SOURCE_CULTURE = f"culture-to-culture SD {CULTURE_SD} on the log scale (msclab.simulate.subsets.CULTURE_SD, heuristic)"
_SOURCE_ASSAY = (f"ELISA read in duplicate wells off the kit's 4PL with signal noise {READ_CV:.0%} + {READ_SD} OD "
                 "(msclab.simulate.elisa), back-calculated, so the concentration CV grows near the curve's "
                 "asymptotes (sandwich-ELISA intra-assay CV is typically < 10% mid-curve; FDA 2018 BMV guidance "
                 "accepts <= 20%, 25% at the limits)")
_SOURCE_LLOQ = ("LLOQ / ULOQ = the kit's lowest / highest standard x sample dilution (msclab.simulate.elisa.KITS); "
                "censored values enter as LLOQ/sqrt(2) and ULOQ (msclab.normalise.censoring defaults)")


@dataclass(frozen=True)
class EffectModel:
    """One endpoint as the fast simulator sees it.

    Attributes
    ----------
    effect_id
        Catalogue id.
    kind
        ``frequency`` (a population % of its parent), ``proliferation`` (% divided) or
        ``concentration`` (a supernatant cytokine); ``normal`` is a plain paired
        design (donor effects normal with SD ``donor_sd``, no technical noise).
    size
        Effect at MSC:PBMC 1:10 as planted: log2 ratio for frequencies and
        concentrations, fraction of division removed for proliferation.
    donor_sd
        Donor-to-donor SD of ``size``.
    baseline, baseline_sd
        Control-arm fraction (mean, SD) or concentration (median pg/mL, SD of log).
    parent_share
        Share of events in the parent population (frequencies, proliferation).
    culture_sd
        Culture-to-culture SD (natural log scale) of each tube / well.
    assay_cv
        Measurement CV of a concentration.
    lloq, uloq
        Lower and upper limits of quantification (pg/mL, neat) for concentrations.
    curve
        The kit's 4PL ``(a, b, c, d)`` of signal against in-well concentration
        (:class:`msclab.simulate.elisa.ElisaKit`); when given, concentrations are
        read in signal space with ``read_cv`` and ``read_sd`` and back-calculated
        through it, and ``assay_cv`` is only reported. None: a constant
        log-normal ``assay_cv``.
    dilution
        Sample dilution in the well.
    read_cv, read_sd
        Proportional and additive noise of a well's signal.
    wells
        Replicate wells per sample.
    background
        Divided fraction of unstimulated cultures (proliferation).
    source
        Where these numbers come from.
    """

    effect_id: str
    kind: str
    size: float
    donor_sd: float
    baseline: float
    baseline_sd: float
    parent_share: float = 1.0
    culture_sd: float = CULTURE_SD
    assay_cv: float = 0.0
    lloq: float = 0.0
    uloq: float = math.inf
    curve: tuple[float, float, float, float] | None = None
    dilution: float = 1.0
    read_cv: float = 0.0
    read_sd: float = 0.0
    wells: int = 2
    background: float = 0.0
    source: str = ""

    @property
    def scale(self) -> str:
        """The effect's scale in ``analyze``'s effects table."""
        return {FREQUENCY: "log2_ratio", PROLIFERATION: "pct_suppression"}.get(self.kind, "log2_fc")

    def effect_on_scale(self, weight: float) -> float:
        """The planted mean effect at ``weight`` of the 1:10 size, on :attr:`scale`."""
        return 100.0 * weight * self.size if self.kind == PROLIFERATION else weight * self.size


_FREQ = {"th1_frequency": ("th1", "CD4"), "th17_frequency": ("th17", "CD4"),
         "th2_frequency": ("th2", "CD4"), "treg_frequency": ("treg", "CD4")}
_PROLIF = {"t_prolif_cd4": ("divided_cd4", "CD4"), "t_prolif_cd8": ("divided_cd8", "CD8")}
_CONC = {"ifng": "IFN-g", "tnfa": "TNF-a", "il17a": "IL-17A", "il10": "IL-10"}


def backcalculated_cv(kit, in_well: float) -> float:
    """CV of one well's back-calculated concentration at ``in_well`` (delta method through the 4PL).

    The signal SD ``sqrt((read_cv * y)^2 + read_sd^2)`` divided by the curve's
    slope ``dy/dx`` gives the concentration SD; it grows near both asymptotes.
    """
    u = (in_well / kit.c) ** kit.b
    y = float(kit.signal(in_well))
    slope = (kit.d - kit.a) * kit.b * u / in_well / (1.0 + u) ** 2
    return float(math.hypot(READ_CV * y, READ_SD) / abs(slope) / in_well)


def default_models() -> dict[str, EffectModel]:
    """Return the synthetic default model of every effect the default panels and assays measure."""
    from ..simulate.study import _BASELINE, _CYTOKINES, _UNSTIMULATED

    models = {}
    for eid, planted in DEFAULT_EFFECTS.items():
        src = f"effect: {planted.source}; baseline: {_SOURCE_BASE}; {_SOURCE_CULTURE}"
        if eid in _FREQ:
            key, parent = _FREQ[eid]
            mean, sd = _BASELINE[key]
            models[eid] = EffectModel(eid, FREQUENCY, planted.size, planted.donor_sd, mean, sd,
                                      PARENT_SHARE[parent], source=src)
        elif eid in _PROLIF:
            key, parent = _PROLIF[eid]
            mean, sd = _BASELINE[key]
            models[eid] = EffectModel(eid, PROLIFERATION, planted.size, planted.donor_sd, mean, sd,
                                      PARENT_SHARE[parent], background=_UNSTIMULATED[key], source=src)
        elif eid in _CONC:
            analyte = _CONC[eid]
            median, log_sd = _CYTOKINES[analyte][:2]
            kit = KITS[analyte]
            standards = kit.standards()
            models[eid] = EffectModel(eid, CONCENTRATION, planted.size, planted.donor_sd, median, log_sd,
                                      assay_cv=backcalculated_cv(kit, median / kit.sample_dilution), lloq=float(standards.min() * kit.sample_dilution),
                                      uloq=float(standards.max() * kit.sample_dilution),
                                      curve=(kit.a, kit.b, kit.c, kit.d), dilution=kit.sample_dilution,
                                      read_cv=READ_CV, read_sd=READ_SD,
                                      source=f"{src}; {_SOURCE_ASSAY}; {_SOURCE_LLOQ}")
    return models

"""Fast readout-level simulation of donor effects (no events, no plates).

Each simulated experiment draws, per donor, a baseline (logit-normal fraction or
log-normal concentration, as :mod:`msclab.simulate.study` does) and an MSC
effect ``size + donor_sd * z`` carried at :func:`msclab.simulate.effects.ratio_weight`
of its 1:10 size; every culture adds log-normal culture noise; flow readouts are
binomial counts of the parent's events; concentrations are read in duplicate
wells off the kit's 4PL standard curve with signal noise (or, without a curve,
with a constant log-normal CV) and censored outside LLOQ-ULOQ: replaced by
LLOQ/sqrt(2) below and by the ULOQ above, the default of
:class:`msclab.normalise.censoring.CensoringRule` (Hornung & Reed 1990). The per-pair
effect is the one ``analyze`` computes (:mod:`msclab.normalise.controls`:
log2 ratio, or % suppression with the unstimulated background), averaged over
replicate pairs per donor. Everything is vectorised over simulations and donors.
"""

from __future__ import annotations

import math

import numpy as np

from .sources import CONCENTRATION, FREQUENCY, NORMAL, PROLIFERATION, EffectModel

_LN2 = math.log(2.0)


def _fraction(mean: float, sd: float, z: np.ndarray) -> np.ndarray:
    """Logit-normal fractions with the given mean and approximate SD (as ``draw_fraction``)."""
    sd_logit = sd / (mean * (1 - mean))
    return 1.0 / (1.0 + np.exp(-(math.log(mean / (1 - mean)) + sd_logit * z)))


def _censor(model: EffectModel, value: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
    """``analyze``'s default censoring rule: LLOQ/sqrt(2) below, the ULOQ above."""
    return np.where(below, model.lloq / math.sqrt(2.0), np.where(above, model.uloq, value))


def _lognormal_reader(model: EffectModel, arm: tuple[int, ...], rng: np.random.Generator):
    """Concentrations read with a constant log-normal CV, censored outside LLOQ-ULOQ."""
    sigma = math.sqrt(math.log1p(model.assay_cv**2))

    def measure(c: np.ndarray) -> np.ndarray:
        m = c * np.exp(sigma * rng.standard_normal(arm) - sigma**2 / 2)
        return _censor(model, m, m < model.lloq, m > model.uloq)

    return measure


def _plate_reader(model: EffectModel, arm: tuple[int, ...], rng: np.random.Generator):
    """Concentrations read off the kit's 4PL: noise in signal space, back-calculated, censored.

    Each of ``model.wells`` wells reads ``signal(c / dilution) * (1 + read_cv z1) + read_sd z2``
    (the noise of :func:`msclab.simulate.elisa.simulate_plates`) and is back-calculated
    through the same 4PL, so the concentration CV grows where the curve flattens near
    its asymptotes. As ``analyze`` combines wells (:mod:`msclab.assay.quantification`):
    the mean of the wells inside LLOQ-ULOQ; a sample with none is censored on the side
    most of its wells fell (a signal beyond an asymptote counts as beyond that limit).
    """
    a, b, c50, d = model.curve
    shape = (*arm, model.wells)
    lo, hi = model.lloq / model.dilution, model.uloq / model.dilution

    def measure(conc: np.ndarray) -> np.ndarray:
        x = (conc / model.dilution)[..., None]
        y = d + (a - d) / (1.0 + (x / c50) ** b)
        y = y * (1.0 + model.read_cv * rng.standard_normal(shape)) + model.read_sd * rng.standard_normal(shape)
        inside = (y - a) * (d - y) > 0  # between the asymptotes: back-calculable
        ratio = np.where(inside, (a - d) / np.where(inside, y - d, 1.0) - 1.0, 1.0)
        xhat = np.where(inside, c50 * np.maximum(ratio, 1e-300) ** (1.0 / b), np.nan)
        rising = d > a
        low_side = np.where(inside, xhat < lo, (y <= a) if rising else (y >= a))
        high_side = np.where(inside, xhat > hi, (y >= d) if rising else (y <= d))
        ok = ~low_side & ~high_side
        n_ok = ok.sum(axis=-1)
        value = np.where(n_ok > 0, np.where(ok, xhat, 0.0).sum(axis=-1) / np.maximum(n_ok, 1), np.nan) * model.dilution
        above = (n_ok == 0) & (high_side.sum(axis=-1) >= low_side.sum(axis=-1))
        below = (n_ok == 0) & ~above
        return _censor(model, value, below, above)

    return measure


def donor_effects(
    model: EffectModel,
    weight: float,
    *,
    n_sim: int,
    donors: int,
    events: int,
    replicates: int = 1,
    null: bool = False,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return simulated donor effects, shape ``(n_sim, donors)``, on ``analyze``'s scale.

    Parameters
    ----------
    model
        The endpoint.
    weight
        Share of the 1:10 effect the ratio carries.
    n_sim, donors, events, replicates
        Simulated experiments, donors, events per tube, replicate cultures per arm.
    null
        Plant no effect (every donor's effect is 0).
    rng
        Random generator.

    Returns
    -------
    numpy.ndarray
        NaN where a pair has no defined effect (a zero count), as ``analyze`` drops it.
    """
    shape, arm = (n_sim, donors, 1), (n_sim, donors, replicates)
    effect = np.zeros(shape) if null or model.size == 0 else model.size + model.donor_sd * rng.standard_normal(shape)
    effect = weight * effect

    if model.kind == NORMAL:
        return effect[:, :, 0]

    def culture() -> np.ndarray:
        return np.exp(model.culture_sd * rng.standard_normal(arm))

    if model.kind == CONCENTRATION:
        base = model.baseline * np.exp(model.baseline_sd * rng.standard_normal(shape))
        measure = _plate_reader(model, arm, rng) if model.curve is not None else _lognormal_reader(model, arm, rng)
        pair = np.log2(measure(base * 2.0**effect * culture()) / measure(base * culture()))
        return pair.mean(axis=2)

    n = max(int(round(events * model.parent_share)), 1)
    base = _fraction(model.baseline, model.baseline_sd, rng.standard_normal(shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        if model.kind == FREQUENCY:
            treated = np.minimum(0.95, base * 2.0**effect * culture())
            control = np.minimum(0.95, base * culture())
            kt, kc = rng.binomial(n, treated), rng.binomial(n, control)
            pair = np.where((kt > 0) & (kc > 0), np.log2(kt / np.maximum(kc, 1)), np.nan)
        elif model.kind == PROLIFERATION:
            treated = np.minimum(0.95, base * (1.0 - np.clip(effect, -0.9, 0.95)) * culture())
            control = np.minimum(0.95, base * culture())
            t, c = rng.binomial(n, treated) / n, rng.binomial(n, control) / n
            b = rng.binomial(n, np.full(shape, model.background)) / n
            span = c - b
            pair = np.where(span > 0, 100.0 * (1.0 - (t - b) / np.where(span > 0, span, 1.0)), np.nan)
        else:
            raise ValueError(f"unknown endpoint kind {model.kind!r}")
        return np.nanmean(pair, axis=2) if replicates > 1 else pair[:, :, 0]


def technical_sd(model: EffectModel, weight: float, events: float | None, *, n_sim: int = 20000, seed: int = 0) -> float:
    """SD of one donor's effect from culture, counting and assay noise alone (no donor variation).

    Used to split an observed donor SD into its technical and biological parts.
    ``events`` None means 20,000 events per tube.
    """
    from dataclasses import replace

    fixed = replace(model, donor_sd=0.0)
    x = donor_effects(fixed, weight, n_sim=n_sim, donors=1, events=int(events or 20000),
                      rng=np.random.default_rng(seed))
    return float(np.nanstd(x))

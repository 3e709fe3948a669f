"""How far a gate's uncertainty can move the frequency it reports: the common scale of gate confidences.

Control thresholds (:func:`msclab.flow.qc.control_confidence`), mixture gates
and density-valley cuts (:mod:`msclab.flow.protocols.resolvers`) each
express what could move as a share of the parent and turn it into the
probability that the frequency stays within :data:`FREQUENCY_TOLERANCE_PP`
(:func:`sampling_confidence`).
"""

from __future__ import annotations

from scipy import stats

#: A sample x panel whose reported frequency is more than this many percentage points from the
#: truth is badly gated (issue 16's acceptance; issue 13's tolerance, max(1 pp, 15% relative), is
#: 1.5-3 pp for the 10-20% populations gated here, and 1 pp bounds the sampling noise of rare
#: subsets, Finak et al. 2016, Sci Rep 6:20686). Sampling-based confidences use it as their scale.
FREQUENCY_TOLERANCE_PP = 2.0
#: Two-sided 95% normal quantile: a 95% interval spans this many standard errors either side.
_Z95 = float(stats.norm.ppf(0.975))


def sampling_confidence(band: float, offset: float = 0.0) -> float:
    """Probability that a frequency stays within :data:`FREQUENCY_TOLERANCE_PP` of its value, from a 95% band.

    ``band`` is the share of the parent (0-1) a cut can move across within its 95%
    confidence interval; the frequency's standard error is then ``100 band / (2 x 1.96)``
    percentage points and, with a normal error, ``P(|error| < 2 pp) = 2 Phi(2 / se) - 1``.
    ``offset`` (a share of the parent, signed) is a known error added to it, e.g. the events a
    drawn gate keeps beyond those its model assigns: ``P(|offset + error| < 2 pp)``.
    """
    se = 100.0 * max(band, 0.0) / (2.0 * _Z95)
    shift = 100.0 * offset
    if se == 0:
        return float(abs(shift) < FREQUENCY_TOLERANCE_PP)
    return float(stats.norm.cdf((FREQUENCY_TOLERANCE_PP - shift) / se)
                 - stats.norm.cdf((-FREQUENCY_TOLERANCE_PP - shift) / se))

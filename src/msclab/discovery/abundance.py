"""Cluster abundance per sample and paired differential abundance per contrast.

For each contrast and cluster the effect is the mean over donors of the
donor-paired log2 ratio of the cluster's fraction (treated over control),
each fraction taken with a pseudocount of half an event,
``(count + 0.5) / (total + 1)``, so empty clusters stay finite. Pairing by
donor removes the donor's baseline, so the donor-to-donor spread of the ratios
carries both the counting noise and the biological overdispersion of the
counts (what a binomial model on pooled counts misses; diffcyt's GLMM
p-values are too small when counts are large for that reason).

The per-cluster variances of the log ratios are moderated by empirical Bayes
(Smyth, Stat Appl Genet Mol Biol 2004;3:Article3): a scaled inverse-chi-square
prior is fitted to the variances of all clusters, its location following a
linear trend in the cluster's log mean count (rare clusters count noisier;
the limma-trend variant, Law et al., Genome Biol 2014;15:R29), and each
cluster's variance is shrunk towards the prior. The moderated t has
``n_donors - 1 + d0`` degrees of freedom; intervals are t intervals on that
variance and q-values are Benjamini-Hochberg within each contrast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ..experiment.contrasts import Contrast, select

#: Pseudocount (events) added to each cluster count before the log ratio.
PSEUDOCOUNT = 0.5

ABUNDANCE_COLUMNS = ("sample_id", "cluster", "count", "fraction")
DIFFERENTIAL_COLUMNS = ("contrast", "cluster", "annotation", "log2_ratio", "ci_low", "ci_high", "p_value",
                        "q_value", "n_donors", "df", "s2_prior", "d0")
POPULATION_COLUMNS = ("contrast", "annotation", "catalogue_id", "n_clusters", "log2_ratio", "ci_low", "ci_high",
                      "p_value", "q_value", "n_donors", "df", "s2_prior", "d0")


def abundance_table(sample_id: np.ndarray, cluster: np.ndarray, samples: list[str] | None = None) -> pd.DataFrame:
    """Counts and fractions of every cluster in every sample (zeros included).

    Returns
    -------
    pandas.DataFrame
        ``sample_id, cluster, count, fraction`` (fraction of the sample's pooled events).
    """
    table = pd.crosstab(pd.Series(np.asarray(sample_id).astype(str), name="sample_id"),
                        pd.Series(np.asarray(cluster).astype(str), name="cluster"))
    if samples is not None:
        table = table.reindex([s for s in samples if s in table.index])
    clusters = sorted(table.columns, key=lambda c: (len(c), c))
    table = table[clusters]
    long = table.stack().rename("count").reset_index()
    totals = table.sum(axis=1)
    long["fraction"] = long["count"] / long["sample_id"].map(totals)
    long["count"] = long["count"].astype(int)
    return long[list(ABUNDANCE_COLUMNS)]


def donor_pairs(obs: pd.DataFrame, contrast: Contrast) -> list[tuple[str, list[str], list[str]]]:
    """Per donor, the treated samples and their matched controls.

    A control matches a treated sample of the same ``pair_by`` value when it
    shares every ``match_on`` column the samplesheet has. Donors without both
    arms are left out.

    Returns
    -------
    list of (donor, treated sample ids, control sample ids)
    """
    treated = obs.index[select(obs, contrast.treatment, contrast=contrast.name).to_numpy()]
    control = obs.index[select(obs, contrast.control, contrast=contrast.name).to_numpy()]
    match = [c for c in contrast.match_on if c in obs.columns]
    out = []
    for donor, group in obs.loc[treated].groupby(contrast.pair_by, sort=True):
        controls = obs.loc[control][obs.loc[control, contrast.pair_by] == donor]
        matched = [c for c in controls.index
                   if any(all(str(obs.at[c, m]) == str(obs.at[t, m]) for m in match) for t in group.index)]
        if matched:
            out.append((str(donor), list(group.index), matched))
    return out


def differential_abundance(abundance: pd.DataFrame, obs: pd.DataFrame, contrasts: list[Contrast],
                           annotation: dict[str, str], *, confidence: float = 0.95,
                           moderate: bool = True) -> pd.DataFrame:
    """Paired differential abundance of every cluster for every contrast.

    Parameters
    ----------
    abundance
        :func:`abundance_table` output.
    obs
        The samplesheet (index: sample id; columns the contrasts select on).
    contrasts
        The experiment's contrasts.
    annotation
        Cluster -> its name (:func:`msclab.discovery.annotate.annotate_clusters`).
    confidence
        Level of the intervals.
    moderate
        Moderate the variances by empirical Bayes (default); false gives the
        plain paired t on each cluster's own variance (``d0 = 0``).

    Returns
    -------
    pandas.DataFrame
        :data:`DIFFERENTIAL_COLUMNS`, one row per contrast and cluster; a
        contrast with fewer than two complete donors gives NaN statistics.
    """
    counts = abundance.pivot(index="sample_id", columns="cluster", values="count")
    clusters = sorted(counts.columns, key=lambda c: (len(c), c))
    counts = counts[clusters]
    parts = []
    for contrast in contrasts:
        pairs = [p for p in donor_pairs(obs, contrast)
                 if set(p[1]) <= set(counts.index) and set(p[2]) <= set(counts.index)]
        ratios = np.array([_log2_fraction(counts.loc[t].sum()) - _log2_fraction(counts.loc[c].sum())
                           for _, t, c in pairs]).reshape(len(pairs), len(clusters))
        mean_count = counts.mean(axis=0).to_numpy(float)
        parts.append(_moderated(ratios, mean_count, confidence, moderate).assign(
            contrast=contrast.name, cluster=clusters, annotation=[annotation.get(c, "") for c in clusters],
            n_donors=len(pairs)))
    if not parts:
        return pd.DataFrame(columns=list(DIFFERENTIAL_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(DIFFERENTIAL_COLUMNS)]


def population_differential(abundance: pd.DataFrame, clusters: pd.DataFrame, obs: pd.DataFrame,
                            contrasts: list[Contrast], *, confidence: float = 0.95) -> pd.DataFrame:
    """Paired differential abundance of every named population (its clusters' events summed).

    Several clusters may carry one name (a population split by the
    clustering); the population's count in a sample is the sum of its
    clusters' counts, and the paired log2 ratio of :func:`differential_abundance`
    is taken on those population counts. The test is the plain paired t on
    each population's own donor-to-donor variance, not moderated: a panel
    names a handful of populations, too few to estimate a variance prior
    (Smyth 2004's moment estimates need many features; with a few, ``d0``
    comes out infinite and the intervals too narrow). This is the discovery
    estimate set beside a gated readout mapped to the same catalogue effect
    (:mod:`msclab.compare.discovery`), whose paired t it then matches.

    Parameters
    ----------
    abundance
        :func:`abundance_table` output.
    clusters
        :func:`msclab.discovery.annotate.annotate_clusters` table (``cluster, annotation, catalogue_id``).
    obs, contrasts, confidence
        As for :func:`differential_abundance`.

    Returns
    -------
    pandas.DataFrame
        :data:`POPULATION_COLUMNS`, one row per contrast and population name.
    """
    names = clusters.assign(cluster=clusters["cluster"].astype(str)).set_index("cluster")
    named = abundance.assign(annotation=abundance["cluster"].astype(str).map(names["annotation"]))
    pooled = (named.groupby(["sample_id", "annotation"], sort=False)["count"].sum().rename("count").reset_index()
              .rename(columns={"annotation": "cluster"}))
    pooled["fraction"] = pooled["count"] / pooled.groupby("sample_id")["count"].transform("sum")
    populations = sorted(pooled["cluster"].unique())
    table = differential_abundance(pooled, obs, contrasts, {p: p for p in populations}, confidence=confidence,
                                   moderate=False)
    catalogue = names.groupby("annotation")["catalogue_id"].first().fillna("")
    sizes = names.groupby("annotation").size()
    table = table.drop(columns="cluster").assign(catalogue_id=table["annotation"].map(catalogue).fillna(""),
                                                 n_clusters=table["annotation"].map(sizes).astype(int))
    return table[list(POPULATION_COLUMNS)]


def _log2_fraction(counts: pd.Series) -> np.ndarray:
    values = counts.to_numpy(float)
    return np.log2((values + PSEUDOCOUNT) / (values.sum() + 2 * PSEUDOCOUNT))


def _moderated(ratios: np.ndarray, mean_count: np.ndarray, confidence: float, moderate: bool = True
               ) -> pd.DataFrame:
    """Moderated (or, with ``moderate`` false, plain) paired t per cluster (columns of ``ratios``: donors x clusters)."""
    n, k = ratios.shape
    nan = np.full(k, np.nan)
    if n < 2:
        return pd.DataFrame({"log2_ratio": ratios.mean(axis=0) if n else nan, "ci_low": nan, "ci_high": nan,
                             "p_value": nan, "q_value": nan, "df": nan, "s2_prior": nan, "d0": nan})
    mean = ratios.mean(axis=0)
    s2 = ratios.var(axis=0, ddof=1)
    d = n - 1
    s2_prior, d0 = fit_prior(s2, d, np.log(mean_count + PSEUDOCOUNT)) if moderate else (nan, 0.0)
    if d0 == 0:
        post, df = s2, np.full(k, float(d))
    elif np.isinf(d0):
        post, df = s2_prior, np.full(k, np.inf)
    else:
        post, df = (d0 * s2_prior + d * s2) / (d0 + d), np.full(k, d + d0)
    se = np.sqrt(post / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, 0.0)
    p = 2 * stats.t.sf(np.abs(t), df)
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    q = stats.false_discovery_control(p, method="bh") if k else p
    return pd.DataFrame({"log2_ratio": mean, "ci_low": mean - half, "ci_high": mean + half, "p_value": p,
                         "q_value": q, "df": df, "s2_prior": s2_prior, "d0": np.full(k, d0)})


def fit_prior(s2: np.ndarray, d: int, covariate: np.ndarray) -> tuple[np.ndarray, float]:
    """Prior variances (one per cluster, a linear trend in ``covariate``) and prior degrees of freedom.

    The moment method of Smyth (2004, section 6.2) on ``log s2``: its
    expectation is ``log s0^2 + digamma(d/2) - log(d/2)`` and its variance
    ``trigamma(d/2) + trigamma(d0/2)``; the trend is fitted by least squares.

    Returns
    -------
    s2_prior, d0
        ``d0`` is ``inf`` when the variances scatter no more than sampling
        alone explains (every cluster then gets the prior variance).
    """
    ok = np.isfinite(s2) & (s2 > 0)
    if ok.sum() < 3:
        return np.full(s2.shape, np.nanmean(s2[ok]) if ok.any() else np.nan), 0.0
    z = np.log(s2[ok])
    e = z - special.digamma(d / 2) + np.log(d / 2)
    design = np.column_stack([np.ones(ok.sum()), covariate[ok]])
    coef, *_ = np.linalg.lstsq(design, e, rcond=None)
    resid = e - design @ coef
    excess = np.sum(resid**2) / max(ok.sum() - 2, 1) - special.polygamma(1, d / 2)
    trend = coef[0] + coef[1] * covariate
    if excess <= 0:
        return np.exp(trend), np.inf
    d0 = 2 * _trigamma_inverse(excess)
    return np.exp(trend + special.digamma(d0 / 2) - np.log(d0 / 2)), float(d0)


def _trigamma_inverse(x: float) -> float:
    """Solve ``trigamma(y) = x`` for y > 0 (Newton's method, as in Smyth 2004)."""
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = special.polygamma(1, y)
        step = tri * (1 - tri / x) / special.polygamma(2, y)
        y += step
        if -step / y < 1e-8:
            break
    return float(y)

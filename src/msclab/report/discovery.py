"""The report's discovery section: UMAP by condition and by cluster, cluster x marker heatmap, DA forest.

It reads the files discovery wrote (``provenance.steps['discovery'][panel]['outputs']``),
so the report needs no discovery types.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

#: Largest number of events drawn in a UMAP panel (a seeded draw; the files keep them all).
MAX_POINTS = 20000


def discovery_sections(steps: dict, samples: pd.DataFrame) -> list[dict]:
    """One entry per panel discovery ran on: title, status, figures (PNG bytes) and tables.

    Parameters
    ----------
    steps
        ``provenance.steps``.
    samples
        The experiment's samples (``condition``, ``msc_ratio`` by sample id).
    """
    out = []
    for panel, record in steps.get("discovery", {}).items():
        entry = {"panel": panel, "status": record.get("status", ""), "reason": record.get("reason", ""),
                 "figures": {}, "clusters": None, "differential": None, "populations": None}
        outputs = record.get("outputs", {})
        if record.get("status") == "ok" and outputs:
            clusters = pd.read_csv(outputs["clusters"], dtype={"cluster": str})
            differential = pd.read_csv(outputs["differential"], dtype={"cluster": str})
            entry["clusters"] = clusters
            entry["differential"] = differential
            if outputs.get("populations"):
                entry["populations"] = pd.read_csv(outputs["populations"], keep_default_na=False, na_values=[""])
            entry["record"] = {k: record[k] for k in ("parent", "markers", "n_events", "n_clusters", "method",
                                                          "resolution", "grid", "n_metaclusters", "split_nodes",
                                                          "umap_events")
                               if k in record}
            entry["figures"] = {"umap": _umap_png(Path(outputs["events"]), samples),
                                "heatmap": _heatmap_png(clusters), "forest": _forest_png(differential)}
        out.append(entry)
    return out


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _umap_png(path: Path, samples: pd.DataFrame) -> bytes:
    import anndata as ad
    import matplotlib.pyplot as plt

    adata = ad.read_h5ad(path)
    embedded = np.flatnonzero(np.isfinite(adata.obsm["X_umap"][:, 0]))  # events outside the UMAP draw are NaN
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(embedded, min(len(embedded), MAX_POINTS), replace=False))
    xy = adata.obsm["X_umap"][keep]
    obs = adata.obs.iloc[keep]
    arm = obs["sample_id"].astype(str).map(
        (samples["condition"].astype(str) + " " + samples["msc_ratio"].fillna("").astype(str)).str.strip()
    ).fillna("?")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, labels, title in ((axes[0], arm, "by condition"), (axes[1], obs["annotation"].astype(str) + " ("
                                                                + obs["cluster"].astype(str) + ")", "by cluster")):
        names = list(dict.fromkeys(labels))
        colours = plt.get_cmap("tab20")(np.arange(len(names)) % 20)
        for name, colour in zip(names, colours, strict=True):
            mask = (labels == name).to_numpy()
            ax.scatter(xy[mask, 0], xy[mask, 1], s=1, color=colour, label=name, rasterized=True)
        ax.set(title=f"UMAP {title}", xticks=[], yticks=[])
        if len(names) <= 12:
            ax.legend(markerscale=8, fontsize=7, frameon=False, loc="best")
    return _png(fig)


def _heatmap_png(clusters: pd.DataFrame) -> bytes:
    import matplotlib.pyplot as plt

    columns = [c for c in clusters.columns if c.startswith("median:")]
    values = clusters[columns].to_numpy(float)
    fig, ax = plt.subplots(figsize=(0.6 * len(columns) + 3, 0.22 * len(clusters) + 1.5))
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(columns)), [c.removeprefix("median:") for c in columns], rotation=45, ha="right")
    ax.set_yticks(range(len(clusters)), clusters["cluster"].astype(str) + " " + clusters["annotation"].astype(str),
                  fontsize=7)
    fig.colorbar(image, ax=ax, label="median (gating scale)")
    return _png(fig)


def _forest_png(differential: pd.DataFrame) -> bytes | None:
    import matplotlib.pyplot as plt

    rows = differential.dropna(subset=["log2_ratio", "ci_low", "ci_high"])
    if not len(rows):
        return None
    contrasts = list(dict.fromkeys(rows["contrast"]))
    fig, axes = plt.subplots(1, len(contrasts), figsize=(4.5 * len(contrasts), 0.22 * rows["cluster"].nunique() + 1.5),
                             sharey=True, squeeze=False)
    for ax, contrast in zip(axes[0], contrasts, strict=True):
        part = rows[rows["contrast"] == contrast].reset_index(drop=True)
        y = np.arange(len(part))
        significant = (part["q_value"] < 0.05).to_numpy()
        ax.errorbar(part["log2_ratio"], y, xerr=[part["log2_ratio"] - part["ci_low"], part["ci_high"] - part["log2_ratio"]],
                    fmt="none", ecolor="grey", lw=1)
        ax.scatter(part["log2_ratio"], y, c=np.where(significant, "crimson", "black"), s=12, zorder=3)
        ax.axvline(0, color="black", lw=0.5)
        ax.set_yticks(y, part["cluster"].astype(str) + " " + part["annotation"].astype(str), fontsize=7)
        ax.set(title=contrast, xlabel="log2 ratio of fractions (red: q < 0.05)")
    return _png(fig)

"""Synthetic co-culture studies whose readouts map to catalogue entries, with planted verdicts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from msclab.catalogue import load_catalogue
from msclab.compare.expectations import expectation
from msclab.readouts import build_readouts

#: Readout kind used to simulate each catalogue readout type.
KIND = {
    "proliferation": ("proliferation", "%"),
    "frequency_of_parent": ("frequency", "%"),
    "intracellular_cytokine": ("frequency", "%"),
    "cytotoxicity": ("frequency", "%"),
    "mfi_activation_marker": ("mfi", "MFI"),
    "cytokine_concentration": ("concentration", "pg/mL"),
    "enzyme_activity": ("concentration", "uM"),
    "immunoglobulin_titre": ("concentration", "ng/mL"),
    "gene_expression": ("ratio", "relative"),
    "clinical_score": ("ratio", "score"),
}


@dataclass
class Study:
    """A readouts AnnData and the verdict planted for each catalogue id."""

    readouts: object
    planted: dict[str, str]


def make_study(
    *,
    seed: int,
    null: bool = False,
    n_donors: int = 8,
    context: str = "in_vitro_human",
    ids: list[str] | None = None,
    planted: dict[str, str] | None = None,
    arm: dict[str, str] | None = None,
    log2_effect: float = 0.9,
    suppression: float = 45.0,
) -> Study:
    """Simulate PBMC vs PBMC+MSC (1:10) with donor random effects.

    Each catalogue entry stated for ``context`` gets one readout. Scorable entries
    get a planted verdict (``concordant`` 75 %, ``discordant`` 25 %, unless given in
    ``planted``): an effect of ``log2_effect`` (or ``suppression`` % for
    proliferation) in, or against, the expected direction. With ``null`` every
    effect is 0.
    """
    catalogue = load_catalogue()
    rng = np.random.default_rng(seed)
    entries = [e for e in catalogue.entries() if e.is_immune_effect and context in e.contexts]
    if ids is not None:
        entries = [catalogue.effects[i] for i in ids]
    arm = {"msc_ratio": "1:10", "culture": "contact", "msc_source": "BM", "msc_licensing": "IFNg", **(arm or {})}
    truth, plan = {}, dict(planted or {})
    for e in entries:
        exp = expectation(e, context, catalogue)
        if exp.literature_conflicting:
            truth[e.id] = "literature_conflicting"
            sign = 0.0 if null else float(rng.choice([-1, 1]))
        else:
            verdict = "inconclusive" if null else plan.get(e.id, "concordant" if rng.random() < 0.75 else "discordant")
            truth[e.id] = verdict
            toward = {"up": 1.0, "down": -1.0}[exp.direction]
            sign = {"concordant": toward, "discordant": -toward, "inconclusive": 0.0}[verdict]
        plan[e.id] = sign
    samples, records = [], []
    for d in range(n_donors):
        donor = f"D{d + 1}"
        for condition, treated in (("PBMC", False), ("PBMC+MSC", True)):
            sid = f"{donor}-{condition}"
            row = {"sample_id": sid, "donor": donor, "condition": condition, "stimulus": "PHA", "timepoint": "72h",
                   "replicate": 1, "plate": "P1", "well": "", "control_type": "", "status": "ok",
                   **({k: v for k, v in arm.items()} if treated else
                      {"msc_ratio": "", "culture": arm["culture"], "msc_source": "", "msc_licensing": ""})}
            samples.append(row)
        for e in entries:
            kind, unit = KIND[e.readout_type]
            readout = f"sim:{e.id}"
            if kind == "proliferation":
                control = float(np.clip(rng.normal(70, 8), 40, 90))
                supp = plan[e.id] * -suppression + rng.normal(0, 8)
                values = (control, control * (1 - supp / 100))
            else:
                base = rng.normal(3 if kind == "frequency" else 8, 0.5)
                log2fc = plan[e.id] * log2_effect + rng.normal(0, 0.25)
                values = (2 ** base, 2 ** (base + log2fc))
            for condition, value in zip(("PBMC", "PBMC+MSC"), values):
                records.append({"sample_id": f"{donor}-{condition}", "readout": readout, "value": value,
                                "kind": kind, "unit": unit, "catalogue_id": e.id})
    return Study(build_readouts(pd.DataFrame(samples), pd.DataFrame(records)), truth)


@pytest.fixture
def study_factory():
    """The :func:`make_study` factory."""
    return make_study

"""Discovery on a panel gated by a fixed GatingML file: the parent population taken by name from the file.

The fixed strategy is the gate tree msclab resolved on one sample of a
simulated study, written as GatingML 2.0; the panel then names that file as
its protocol (docs/experiment.md) and asks for discovery with ``parent: T cells``.
The gated Treg fractions of the fixed gates are the reference of the named clusters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from msclab.discovery import discover_panel
from msclab.errors import MsclabError
from msclab.experiment import read_experiment
from msclab.experiment.model import Discovery
from msclab.flow.gating.gatingml import write_gatingml
from msclab.flow.panel import quantify_panel
from msclab.flow.result import PanelResult
from msclab.pipeline import analyze
from msclab.settings import Settings
from msclab.simulate.study import StudyDesign, simulate_study


@pytest.mark.slow
def test_gatingml_panel_discovers_from_the_named_parent(tmp_path):
    study = tmp_path / "study"
    simulate_study(study, StudyDesign(donors=3, events=4000, seed=5, panels=("treg",)))
    gated = quantify_panel(read_experiment(study / "experiment.yaml"), "treg")
    write_gatingml(next(iter(gated.resolved.values())), study / "treg_fixed.xml")
    manifest = yaml.safe_load((study / "experiment.yaml").read_text(encoding="utf-8"))
    panel = manifest["panels"]["treg"]
    panel.pop("controls", None)
    panel |= {"protocol": "treg_fixed.xml", "discovery": {"parent": "T cells"}}
    (study / "experiment.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")

    result = analyze(study / "experiment.yaml", tmp_path / "out", Settings(plots=False, n_boot=100))
    record = result.provenance.steps["discovery"]["treg"]
    assert record["status"] == "ok", record
    assert record["parent"] == "T cells" and record["scale"].startswith("msclab default transforms")
    clusters = pd.read_csv(record["outputs"]["clusters"], dtype={"cluster": str})
    assert "Treg" in set(clusters["annotation"])
    abundance = pd.read_csv(record["outputs"]["abundance"], dtype={"cluster": str}).merge(clusters)
    found = abundance[abundance["annotation"] == "Treg"].groupby("sample_id")["fraction"].sum()
    pops = result.populations
    t_cells = pops[pops["name"] == "T cells"].set_index("sample_id")["count"]
    fixed = (pops[pops["name"] == "Treg"].set_index("sample_id")["count"] / t_cells).reindex(found.index)
    ok = (fixed > 0) & (found > 0)
    r = float(np.corrcoef(np.log(fixed[ok]), np.log(found[ok]))[0, 1])
    print(f"fixed GatingML panel: Treg log-scale r = {r:.3f} over {int(ok.sum())} samples")
    # The fixed gates sit where one sample put them, so the other samples' gated Tregs are the rougher reference.
    assert ok.sum() >= 9 and r >= 0.9

    # A parent the file does not gate is refused with the file's population names, before any event is read.
    exp = read_experiment(study / "experiment.yaml")
    empty = pd.DataFrame()
    with pytest.raises(MsclabError, match="not a population of the panel's gating file"):
        discover_panel(exp, PanelResult("treg", None, empty, empty, empty, {}, gated.resolved),
                       Discovery(parent="Helper T"))

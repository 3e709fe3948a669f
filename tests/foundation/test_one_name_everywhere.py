"""One name for a population everywhere: populations.csv and the exported GatingML agree."""

from __future__ import annotations

import msclab
from msclab.flow.gating import Events, gate_events, read_gatingml
from msclab.flow.panel import quantify_panel
from msclab.io import read_fcs
from msclab.simulate import StudyDesign, simulate_study


def test_exported_gatingml_gives_the_population_names_of_populations_csv(tmp_path):
    simulate_study(tmp_path / "study", StudyDesign(donors=2, events=3000, seed=1))
    experiment = msclab.read_experiment(tmp_path / "study" / "experiment.yaml")
    files = experiment.samplesheet.set_index(["sample_id", "panel"])["file"]
    result = quantify_panel(experiment, "th_ics")
    paths = result.write_gatingml(tmp_path / "gates")
    assert paths
    for sid, path in paths.items():
        tree = read_gatingml(path)
        # Readable names ("CD45+", "T cells") come back, though the XML ids must be "CD45pos", "T_cells".
        assert {"CD45+", "T cells"} <= {p.name for p in tree}
        table = gate_events(tree, Events.from_anndata(read_fcs(files[sid, "th_ics"]), sid)).table()
        mine = result.populations[result.populations["sample_id"] == sid]
        assert table["population"].tolist() == mine["population"].tolist()
        assert "/Lymphocytes/Singlets/Live/CD45+/T cells" in set(table["population"])
        assert table["count"].tolist() == mine["count"].tolist()

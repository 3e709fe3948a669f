"""Draw docs/img/protocol_<panel>.png: every shipped panel protocol gated on simulated data.

The study is ``example_data``'s design (6 donors x 4000 events, seed 2026) with every
panel, so the th_ics and treg files, and their pictures, are those of
``example_data``. Each panel is quantified with its shipped protocol (thresholds from
the simulated FMO / unstimulated controls) and donor D1's stimulated PBMC culture is
drawn (the MSC lot for ``msc_identity``). ``mouse_lineage`` is drawn on a real file
(see docs/protocols.md) and is not made here.

Run from the repository root: ``python docs/make_protocol_images.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msclab
from msclab.flow.plots import plot_sample
from msclab.flow.protocols.loader import load_protocol
from msclab.flow.protocols.resolve import resolve_protocol
from msclab.flow.protocols.sample import SampleEvents
from msclab.io import read_fcs
from msclab.simulate import StudyDesign, simulate_study
from msclab.simulate.panels import PANELS

IMG = Path(__file__).parent / "img"
DESIGN = StudyDesign(donors=6, events=4000, seed=2026, panels=tuple(PANELS))


def _draw(experiment, panel: str, sample_id: str) -> Path:
    """Gate every sample of the panel (controls included) and draw one of them."""
    spec = experiment.spec.panels[panel]
    protocol = load_protocol(spec.protocol or panel)
    samples = {}
    for row in experiment.files(panel).to_dict("records"):
        samples[str(row["sample_id"])] = SampleEvents.from_anndata(
            read_fcs(row["file"]), str(row["sample_id"]), spec.markers, info=row, scale=protocol.transforms)
    resolution = resolve_protocol(protocol, samples, panel_controls=spec.controls)
    if resolution.failures:
        raise SystemExit(f"{panel}: {resolution.failures}")
    return plot_sample(resolution.samples[sample_id], IMG / f"protocol_{panel}.png", title=f"{sample_id} - {panel}")


def main() -> None:
    """Simulate the study in a temporary folder and draw every panel."""
    with tempfile.TemporaryDirectory() as folder:
        simulate_study(folder, DESIGN)
        experiment = msclab.read_experiment(Path(folder) / "experiment.yaml")
        for panel, design in PANELS.items():
            print(_draw(experiment, panel, "MSC1" if design.source == "msc" else "D1_pbmc"))


if __name__ == "__main__":
    main()

"""``msclab review OUT --export-wsp``: FlowJo workspaces of an analysis output folder.

``analyze`` writes ``OUT/gates/<panel>.wsp`` itself; this writes the same files
for any ``analyze`` or ``batch`` output folder from what the folder records:
the gate tree every sample was gated with (``provenance.json``
``steps.resolved_gates``, the override where one was used) and its counts
(``populations.csv``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import MsclabError


def export_workspaces(out: str | Path) -> dict[str, Path]:
    """Write ``OUT/gates/<panel>.wsp`` for every panel with resolved gates.

    Returns
    -------
    dict
        Panel -> workspace written.

    Raises
    ------
    MsclabError
        Not an output folder, or a panel's gates cannot be stored in FlowJo.
    """
    from ..experiment import read_experiment
    from ..flow.flowjo_export import read_trees, write_panel_workspace

    folder = Path(out).resolve()
    prov_path = folder / "provenance.json"
    if not prov_path.is_file():
        raise MsclabError("not an analyze or batch output folder (no provenance.json)", file=folder,
                          hint="Give the folder msclab analyze or msclab batch wrote.")
    prov = json.loads(prov_path.read_text(encoding="utf-8"))
    resolved = prov.get("steps", {}).get("resolved_gates", {})
    if not resolved:
        raise MsclabError("the output folder has no resolved gates (provenance steps.resolved_gates)",
                          file=prov_path, hint="Run msclab analyze on an experiment with flow panels.")
    populations_path = folder / "populations.csv"
    if not populations_path.is_file():
        raise MsclabError("the output folder has no populations.csv", file=folder,
                          hint="Give the folder msclab analyze or msclab batch wrote.")
    populations = pd.read_csv(populations_path, dtype={"sample_id": str})
    experiment = read_experiment(prov["parameters"]["experiment"])
    written = {}
    for panel, files in resolved.items():
        trees = read_trees({sid: p if Path(p).is_absolute() else folder / p for sid, p in files.items()})
        written[panel] = write_panel_workspace(experiment, panel, trees, populations,
                                               folder / "gates" / f"{panel}.wsp")
    return written

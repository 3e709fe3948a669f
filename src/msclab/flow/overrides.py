"""Per-sample gate overrides: a scientist's corrected gate tree for one sample and panel.

An override is the resolved gate tree of one sample and panel as Gating-ML 2.0,
kept beside ``experiment.yaml`` as ``gates/overrides/<panel>/<sample_id>.xml``
(the format ``analyze`` writes to ``OUT/gates/``, so a file exported there can be
edited with any Gating-ML tool and dropped in). ``analyze`` and ``batch`` gate
that sample with the override instead of the automatically resolved gates.

Per-sample ("data-specific") gates follow the practice of manual review
recommended for automated gating (Aghaeepour et al., Nat Methods 2013;10:228,
FlowCAP: expert gates of hard populations differ by 20-30 %, so automated gates
are reviewed and corrected sample by sample).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .._files import sha256_file
from ..errors import MsclabError
from .gating.engine import Events, gate_events
from .gating.gatingml import read_gatingml
from .gating.tree import GateTree

#: Folder of the overrides, relative to the experiment's folder.
OVERRIDES_DIR = Path("gates") / "overrides"


@dataclass(frozen=True)
class Override:
    """One override file, read.

    Attributes
    ----------
    panel, sample_id
        Which sample and panel it replaces the gates of.
    path
        The Gating-ML file.
    sha256
        The file's SHA-256 (recorded in provenance).
    tree
        Its gate tree.
    """

    panel: str
    sample_id: str
    path: Path
    sha256: str
    tree: GateTree

    def record(self) -> dict[str, str]:
        """Provenance record: file and SHA-256."""
        return {"file": str(self.path), "sha256": self.sha256}


def override_path(root: str | Path, panel: str, sample_id: str) -> Path:
    """Return where the override of ``sample_id`` in ``panel`` lives under an experiment folder.

    Raises
    ------
    MsclabError
        The panel or sample id cannot be a file name (``/``, ``\\``, leading dot).
    """
    for label, name in (("panel", panel), ("sample id", sample_id)):
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
            raise MsclabError(f"{label} {name!r} cannot name an override file",
                              hint="Sample ids and panel names of overridden samples must be plain file names.")
    return Path(root) / OVERRIDES_DIR / panel / f"{sample_id}.xml"


def find_override_files(root: str | Path) -> list[tuple[str, str, Path]]:
    """List ``(panel, sample_id, path)`` of every ``*.xml`` under ``<root>/gates/overrides/``."""
    base = Path(root) / OVERRIDES_DIR
    if not base.is_dir():
        return []
    return [(p.parent.name, p.stem, p) for p in sorted(base.glob("*/*.xml"))]


def load_overrides(experiment, panel: str | None = None) -> dict[tuple[str, str], Override]:
    """Read every override of an experiment (or of one panel).

    Parameters
    ----------
    experiment
        A :class:`msclab.experiment.Experiment`.
    panel
        Only this panel's overrides.

    Returns
    -------
    dict
        ``(panel, sample_id)`` -> :class:`Override`.

    Raises
    ------
    MsclabError
        A file that does not parse, or names an unknown panel or sample (an
        override that silently did nothing would hide a correction).
    """
    problems = check_overrides(experiment)
    if problems:
        path, message = problems[0]
        raise MsclabError(f"gate override: {message}", file=path,
                          hint="Fix or remove the file (msclab validate lists every problem).")
    out = {}
    for pname, sid, path in find_override_files(experiment.root):
        if panel is not None and pname != panel:
            continue
        out[(pname, sid)] = Override(pname, sid, path, sha256_file(path), read_gatingml(path))
    return out


def check_overrides(experiment) -> list[tuple[Path, str]]:
    """Check every override file: it parses, names a known panel and sample, and its dimensions exist.

    Returns
    -------
    list
        ``(file, problem)`` pairs; empty when all are good.
    """
    from ..io import open_fcs
    from .protocols.loader import is_strategy_file

    problems = []
    for pname, sid, path in find_override_files(experiment.root):
        if pname not in experiment.spec.panels:
            problems.append((path, f"panel {pname!r} is not in the experiment ({', '.join(experiment.spec.panels)})"))
            continue
        if is_strategy_file(experiment.spec.panels[pname].protocol):
            problems.append((path, f"panel {pname!r} is gated by a fixed strategy file, not a protocol: "
                                   "correct that file instead"))
            continue
        rows = experiment.files(pname)
        rows = rows[rows["sample_id"] == sid]
        if rows.empty:
            problems.append((path, f"sample {sid!r} has no FCS file in panel {pname!r}"))
            continue
        try:
            tree = read_gatingml(path)
        except MsclabError as exc:
            problems.append((path, f"does not parse: {exc}"))
            continue
        fcs_path = Path(rows["file"].iloc[0])
        fcs_path = fcs_path if fcs_path.is_absolute() else experiment.root / fcs_path
        try:
            var = open_fcs(fcs_path).var
        except MsclabError as exc:
            problems.append((path, f"its sample's FCS file cannot be read: {exc}"))
            continue
        names = {str(c) for c in var.index} | {str(m) for m in var["pns"] if isinstance(m, str) and m}
        missing = sorted(n for n in _dimension_names(tree) if n not in names)
        if missing:
            problems.append((path, f"dimension(s) {', '.join(missing)} not in {fcs_path.name}"))
    return problems


def apply_override(sample, override: Override) -> None:
    """Gate one resolved sample with its override tree, in place.

    ``sample`` is a :class:`msclab.flow.protocols.resolve.ResolvedSample`; its
    tree and membership are replaced by the override's. Every population of the
    resolved tree must be in the override (same ids, as ``analyze`` writes them).

    Raises
    ------
    MsclabError
        The override lacks populations of the resolved tree.
    """
    ev = sample.events
    missing = sorted(pid for pid in sample.ids.values() if pid not in override.tree.populations)
    if missing:
        raise MsclabError(f"override lacks population(s) {', '.join(missing)} of the resolved gates",
                          file=override.path,
                          hint="Start from the file analyze wrote in OUT/gates/ and keep every gate id.")
    events = Events(data=np.asarray(ev.data), channels=list(ev.channels),
                    markers=[ev.markers.get(c) for c in ev.channels], spillover=ev.spillover,
                    sample_id=ev.sample_id)
    tree = override.tree  # Gating-ML keeps ids only: give populations their resolved names (paths) back
    tree = GateTree(populations={pid: replace(pop, name=sample.tree.populations[pid].name)
                                 if pid in sample.tree.populations else pop
                                 for pid, pop in tree.populations.items()},
                    transforms=tree.transforms, matrices=tree.matrices, source=tree.source)
    result = gate_events(tree, events)
    sample.tree = tree
    sample.membership = {name: result.membership[pid] for name, pid in sample.ids.items()}
    sample.gates = {**sample.gates, "override": override.record()}


def _dimension_names(tree: GateTree) -> set[str]:
    """Channel names the gates of a tree read (ratio dimensions resolved to their two channels)."""
    from .gating.gates import BooleanGate

    names = set()
    for pop in tree:
        if isinstance(pop.gate, BooleanGate):
            continue
        for dim in pop.gate.dimensions:
            if dim.ratio:
                ratio = tree.transforms.get(dim.name)
                names |= {getattr(ratio, "numerator", None), getattr(ratio, "denominator", None)} - {None}
            else:
                names.add(dim.name)
    for matrix in tree.matrices.values():
        names -= set(getattr(matrix, "fluorochromes", ()) or ())
    return names


def apply_panel_overrides(experiment, panel: str, samples: dict, failures: dict[str, str]) -> dict[str, dict]:
    """Apply every override of one panel to its resolved samples (the hook of ``analyze`` and ``batch``).

    A sample whose override cannot be applied fails with the reason (it is not
    silently gated with the automatic gates).

    Returns
    -------
    dict
        Sample id -> the applied override's record (file and SHA-256), for
        provenance ``steps['gate_overrides'][panel]``.
    """
    overrides = load_overrides(experiment, panel)
    applied = {}
    for (_, sid), override in overrides.items():
        if sid not in samples:
            continue
        try:
            apply_override(samples[sid], override)
        except MsclabError as exc:
            failures[sid] = str(exc)
            del samples[sid]
            continue
        applied[sid] = override.record()
    return applied


def override_problems(experiment_path: str | Path) -> list[MsclabError]:
    """:func:`check_overrides` of a (valid) experiment file, as errors for ``msclab validate``."""
    from ..experiment import read_experiment

    return [MsclabError(f"gate override: {problem}", file=path,
                        hint="Fix the file or remove it (it replaces that sample's gates in analyze and batch).")
            for path, problem in check_overrides(read_experiment(experiment_path))]


def overrides_of(root: str | Path, panel: str, sample_ids) -> dict[str, Path]:
    """Sample id -> override file, for the samples of ``panel`` that have one (for cache keys)."""
    out = {}
    for sid in sample_ids:
        try:
            path = override_path(root, panel, str(sid))
        except MsclabError:
            continue  # such an id cannot have an override file
        if path.is_file():
            out[str(sid)] = path
    return out

"""The experiment: manifest (``experiment.yaml``) + samplesheet, validated.

>>> import msclab
>>> exp = msclab.read_experiment("example_data/experiment.yaml")  # doctest: +SKIP
>>> exp.samples.head()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pandas as pd

from ..errors import FCSError, ManifestError, MsclabError
from . import validate as _v
from .contrasts import Contrast
from .model import Assay, ExperimentSpec, Panel
from .modifiers import Modifiers
from .plate import PLATE_FORMATS, PlateFormat, normalise_well, parse_well
from .samplesheet import SAMPLE_COLUMNS, parse_ratio, read_samplesheet


@dataclass
class Experiment:
    """A validated experiment.

    Attributes
    ----------
    path
        The manifest file.
    spec
        The manifest as a :class:`ExperimentSpec`.
    samplesheet
        One row per acquired file (or assay-only sample), as in the samplesheet,
        with ``file`` made absolute and ``ratio`` (MSC:PBMC as a fraction) added.
    unreadable
        Files that exist but cannot be read as FCS (path -> why); their samples
        fail at analysis, the rest goes on.
    """

    path: Path
    spec: ExperimentSpec
    samplesheet: pd.DataFrame
    unreadable: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        samples = self.samples
        return (f"Experiment({self.spec.name!r}: {len(samples)} samples, {samples['donor'].nunique()} donors, "
                f"{len(self.files())} FCS files, panels {sorted(self.spec.panels)}, {len(self.spec.assays)} assays, "
                f"{len(self.spec.contrasts)} contrasts; {self.path})")

    @property
    def root(self) -> Path:
        """The folder of the manifest; relative paths start here."""
        return self.path.parent

    @property
    def samples(self) -> pd.DataFrame:
        """One row per sample (culture), indexed by ``sample_id``, with its description."""
        columns = ["sample_id", *SAMPLE_COLUMNS, "ratio", "plate", "well"]
        table = self.samplesheet.drop_duplicates("sample_id")[columns].set_index("sample_id", drop=False)
        table.index.name = None
        return table

    def files(self, panel: str | None = None) -> pd.DataFrame:
        """The rows that name an FCS file, optionally for one panel."""
        rows = self.samplesheet[self.samplesheet["file"] != ""]
        return rows if panel is None else rows[rows["panel"] == panel]


def _fcs_channels(path: Path) -> dict[str, str]:
    """Detector ($PnN) -> marker ($PnS) of an FCS file, from its TEXT segment only."""
    from ..io.fcs import open_fcs

    var = open_fcs(path).var
    return dict(zip(var["pnn"], var["pns"], strict=True))


def validate_experiment(
    path: str | PathLike[str],
    *,
    read_channels: Callable[[Path], dict[str, str]] = _fcs_channels,
    allow: Iterable[str | PathLike[str]] = (),
) -> list[MsclabError]:
    """Check a manifest, its samplesheet and the files they name; return every problem.

    Every path in the manifest and the samplesheet must stay inside the
    manifest's folder (after resolving ``..``; absolute paths too), or inside a
    folder in ``allow``; a path that leads elsewhere is a problem and its file
    is never opened (docs/guarantees.md).

    Parameters
    ----------
    path
        ``experiment.yaml``.
    read_channels
        How to read a file's detectors (default: the FCS TEXT segment).
    allow
        Further folders the experiment may read from.

    Returns
    -------
    list of MsclabError
        Empty when the experiment is valid.
    """
    path = Path(path)
    spec, problems = _v.load_manifest(path)
    if spec is None:
        return problems
    roots = _v.allowed_roots(path, allow)
    escapes = _v.check_manifest_paths(spec, path, roots)
    if escapes:
        return problems + escapes
    sheet_path = path.parent / spec.samplesheet
    try:
        sheet = read_samplesheet(sheet_path)
    except MsclabError as exc:
        return [*problems, exc, *_v.check_assays(spec, path.parent)]
    missing_columns = _v.check_columns(sheet, sheet_path)
    if missing_columns:
        return problems + missing_columns
    problems += _v.check_rows(sheet, sheet_path, spec, path)
    problems += _v.check_duplicates(sheet, sheet_path)
    escapes = _v.check_sheet_paths(sheet, sheet_path, roots)
    inside = [f == "" or _v.is_inside(sheet_path.parent / f, roots) for f in sheet["file"]]
    problems += escapes + _v.check_files(sheet[inside], sheet_path, spec, read_channels)
    problems += _v.check_controls(sheet, sheet_path, spec)
    problems += _v.check_normalisation(sheet, sheet_path, spec)
    problems += _v.check_assays(spec, path.parent)
    problems += _v.check_contrasts(sheet, path, spec)
    return problems


def read_experiment(path: str | PathLike[str], *, allow: Iterable[str | PathLike[str]] = ()) -> Experiment:
    """Read and validate an experiment.

    Parameters
    ----------
    path
        ``experiment.yaml``.
    allow
        Further folders the experiment may read from (see :func:`validate_experiment`).

    Returns
    -------
    Experiment

    Raises
    ------
    ManifestError
        Listing every problem found, when the experiment is not valid.

    Notes
    -----
    A file that exists but cannot be read as FCS does not make the experiment
    invalid here: it fails only its own sample when the analysis reads it
    (``msclab validate`` still lists it). Such files are in
    :attr:`Experiment.unreadable`.
    """
    path = Path(path).resolve()
    problems = validate_experiment(path, allow=allow)
    unreadable = {str(p.file): str(p) for p in problems if isinstance(p, FCSError)}
    problems = [p for p in problems if not isinstance(p, FCSError)]
    if problems:
        raise ManifestError(problems, file=path)
    spec, _ = _v.load_manifest(path)
    sheet_path = path.parent / spec.samplesheet
    sheet = read_samplesheet(sheet_path).drop(columns="_line")
    sheet["file"] = [str((sheet_path.parent / f).resolve()) if f else "" for f in sheet["file"]]
    sheet["well"] = [normalise_well(w) or w for w in sheet["well"]]  # validated: a well or empty
    sheet["control_type"] = sheet["control_type"].str.lower()
    sheet["ratio"] = sheet["msc_ratio"].map(parse_ratio).astype(float)
    return Experiment(path=path, spec=spec, samplesheet=sheet, unreadable=unreadable)


__all__ = [
    "PLATE_FORMATS", "Assay", "Contrast", "Experiment", "ExperimentSpec", "Modifiers", "Panel", "PlateFormat",
    "normalise_well", "parse_well", "read_experiment", "validate_experiment",
]

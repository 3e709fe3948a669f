"""Checks of a manifest and its samplesheet that report every problem at once.

Each ``check_*`` function returns a list of :class:`~msclab.errors.MsclabError`
(file, line or field, what to do); :func:`load` runs them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from ..errors import MsclabError
from .contrasts import select
from .model import CONTROL_TYPES, ExperimentSpec
from .plate import PLATE_FORMATS
from .samplesheet import REQUIRED_COLUMNS, SAMPLE_COLUMNS, TODO, parse_ratio

Problems = list[MsclabError]
#: Most values a manifest may hold once YAML aliases are expanded (a "billion laughs" stays far below any real use).
_MAX_YAML_VALUES = 100_000
#: Suffixes that make a panel's ``protocol`` a file rather than a built-in protocol name.
_PROTOCOL_FILES = (".yaml", ".yml", ".xml", ".wsp")


def load_manifest(path: Path) -> tuple[ExperimentSpec | None, Problems]:
    """Parse ``experiment.yaml`` with safe YAML and the pydantic schema."""
    if not path.is_file():
        return None, [MsclabError("the experiment file does not exist", file=path,
                                  hint="Give the path of experiment.yaml, or run 'msclab init FOLDER' to draft one.")]
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        too_big = _expanded_size(raw, {}) > _MAX_YAML_VALUES
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = str(getattr(exc, "problem", exc))
        if problem.startswith("could not determine a constructor for the tag"):
            return None, [MsclabError(f"uses a YAML tag msclab does not accept ({problem})", file=path, where=where,
                                      hint="A manifest is plain data: remove the '!!' tag (msclab never builds "
                                           "Python objects or runs code from a manifest).")]
        return None, [MsclabError(f"is not valid YAML ({problem})", file=path, where=where,
                                  hint="Fix the indentation or quoting at that place.")]
    except UnicodeDecodeError as exc:
        return None, [MsclabError("is not UTF-8 text", file=path, where=f"byte {exc.start}",
                                  hint="Save the file as UTF-8.")]
    except RecursionError:
        return None, [MsclabError("is nested too deeply to be a manifest", file=path,
                                  hint="See docs/experiment.md for the shape of experiment.yaml.")]
    if not isinstance(raw, dict):
        return None, [MsclabError("must be a YAML mapping (name:, samplesheet:, panels: ...)", file=path,
                                  hint="See docs/experiment.md for a complete example.")]
    if too_big:
        return None, [MsclabError(f"expands to more than {_MAX_YAML_VALUES:,} values through YAML aliases (*name)",
                                  file=path, hint="Write the values out instead of repeating aliases.")]
    todo = [MsclabError(f"is still {value!r}", file=path, where=f"field '{field}'",
                        hint="Replace the TODO with the real value.")
            for field, value in _strings(raw) if value.upper().startswith(TODO)]
    try:
        return ExperimentSpec.model_validate(raw), todo
    except ValidationError as exc:
        return None, todo + [_pydantic_problem(path, err) for err in exc.errors()]


def _expanded_size(node: object, seen: dict[int, int]) -> int:
    """Number of values ``node`` holds once YAML aliases are expanded (each shared node counted once per use)."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) not in seen:
        seen[id(node)] = _MAX_YAML_VALUES + 1  # a node that contains itself is an endless expansion
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        seen[id(node)] = 1 + sum(_expanded_size(child, seen) for child in children)
    return seen[id(node)]


def _strings(node: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every string in a parsed YAML tree with its dotted field path."""
    if isinstance(node, dict):
        return [item for k, v in node.items() for item in _strings(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(node, list):
        return [item for i, v in enumerate(node) for item in _strings(v, f"{prefix}.{i}")]
    return [(prefix, node)] if isinstance(node, str) else []


def _pydantic_problem(path: Path, err: dict) -> MsclabError:
    field = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "missing":
        return MsclabError("is required but missing", file=path, where=f"field '{field}'",
                           hint="Add it (see docs/experiment.md).")
    if kind == "extra_forbidden":
        return MsclabError("is not a known field", file=path, where=f"field '{field}'",
                           hint="Check the spelling; docs/experiment.md lists the fields.")
    return MsclabError(err["msg"], file=path, where=f"field '{field}'", hint="Correct the value.")


def check_columns(sheet: pd.DataFrame, path: Path) -> Problems:
    """Required columns are present."""
    return [MsclabError(f"has no '{c}' column", file=path, where="line 1 (header)",
                        hint=f"Add a '{c}' column; docs/experiment.md lists the columns.")
            for c in REQUIRED_COLUMNS if c not in sheet.columns]


def check_rows(sheet: pd.DataFrame, path: Path, spec: ExperimentSpec, manifest: Path | None = None) -> Problems:
    """Per-row checks: required values, TODO cells, wells, ratios, panels, control types.

    TODO cells are one problem per column (with its lines), so a fresh ``msclab
    init`` draft lists what to fill in, not hundreds of lines; a TODO cell is
    not also reported as a bad value. A ``control_for`` marker a panel does not
    name is one problem per panel and marker; when the panel names a marker
    spelled almost the same, the problem is the marker in ``experiment.yaml``
    (its line, and the spelling the samplesheet uses).
    """
    problems: Problems = []
    plate = PLATE_FORMATS[spec.plate_format]
    todo: dict[str, list[int]] = {}
    unknown_control: dict[tuple[str, str], list[int]] = {}
    for _, row in sheet.iterrows():
        where = f"line {row['_line']}"
        for column in REQUIRED_COLUMNS:
            if row[column] == "":
                problems.append(MsclabError(f"'{column}' is empty", file=path, where=where, hint=f"Fill in the {column}."))
        for column, value in row.items():
            if str(value).upper().startswith(TODO):
                todo.setdefault(str(column), []).append(int(row["_line"]))
        well = row["well"]
        if well and not str(well).upper().startswith(TODO) and not plate.contains(well):
            problems.append(MsclabError(
                f"well {well!r} is not on a {spec.plate_format}-well plate", file=path, where=where,
                hint=f"Use A1..{plate.row_letters[-1]}{plate.columns}, or set plate_format in experiment.yaml."))
        if not str(row["msc_ratio"]).upper().startswith(TODO):
            try:
                parse_ratio(row["msc_ratio"])
            except ValueError:
                problems.append(MsclabError(f"msc_ratio {row['msc_ratio']!r} is not a ratio", file=path,
                                            where=where, hint="Write MSC:PBMC as 1:10 (or leave empty without MSCs)."))
        if row["control_type"].lower() not in CONTROL_TYPES and not row["control_type"].upper().startswith(TODO):
            problems.append(MsclabError(f"control_type {row['control_type']!r} is unknown", file=path, where=where,
                                        hint=f"Use one of: {', '.join(c for c in CONTROL_TYPES if c)}, or leave empty."))
        if row["file"] and not row["panel"]:
            problems.append(MsclabError("has a file but no panel", file=path, where=where,
                                        hint=f"Set panel to one of: {', '.join(spec.panels) or '(none defined)'}."))
        if row["panel"] and row["panel"] not in spec.panels and not row["panel"].upper().startswith(TODO):
            problems.append(MsclabError(f"panel {row['panel']!r} is not defined in experiment.yaml", file=path,
                                        where=where, hint=f"Use one of: {', '.join(spec.panels) or '(none defined)'}."))
        if row["control_for"] and row["panel"] in spec.panels and not row["control_for"].upper().startswith(TODO):
            markers = {m.lower() for m in spec.panels[row["panel"]].markers.values()}
            if row["control_for"].lower() not in markers:
                unknown_control.setdefault((row["panel"], row["control_for"]), []).append(int(row["_line"]))
    problems += [MsclabError(f"{len(lines)} cell{'s' if len(lines) != 1 else ''} of column '{column}' "
                             f"{'are' if len(lines) != 1 else 'is'} still TODO", file=path,
                             where=f"line{'s' if len(lines) != 1 else ''} {_line_ranges(lines)}",
                             hint="Replace every TODO with the real value.")
                 for column, lines in todo.items()]
    for (panel, marker), lines in unknown_control.items():
        problems.append(_unknown_marker(spec, panel, marker, lines, path, manifest))
    return problems


def count_todo(sheet: pd.DataFrame) -> int:
    """Number of TODO cells in a samplesheet (what ``init`` reports and ``validate`` groups)."""
    return int(sheet.astype(str).map(lambda v: v.upper().startswith(TODO)).sum().sum())


def count_todo_fields(raw: object) -> int:
    """Number of TODO values in a parsed experiment.yaml (each is one problem of ``validate``)."""
    return sum(1 for _, value in _strings(raw) if value.upper().startswith(TODO))


def _line_ranges(lines: list[int]) -> str:
    """``2-5, 9`` for lines 2, 3, 4, 5, 9."""
    ranges: list[list[int]] = []
    for line in sorted(set(lines)):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _normal(marker: str) -> str:
    return "".join(c for c in marker.lower() if c.isalnum())


def _unknown_marker(spec: ExperimentSpec, panel: str, marker: str, lines: list[int], sheet_path: Path,
                    manifest: Path | None) -> MsclabError:
    """One problem for a ``control_for`` marker the panel lacks, blaming experiment.yaml when it is a typo there."""
    import difflib

    markers = spec.panels[panel].markers
    by_normal = {_normal(m): (d, m) for d, m in markers.items()}
    close = difflib.get_close_matches(_normal(marker), list(by_normal), n=1, cutoff=0.75)
    rows = f"line{'s' if len(lines) != 1 else ''} {_line_ranges(lines)}"
    if close and manifest is not None:
        detector, spelled = by_normal[close[0]]
        return MsclabError(
            f"panel {panel!r} maps detector {detector} to the marker {spelled!r}, but the samplesheet's "
            f"control_for ({sheet_path.name} {rows}) names {marker!r}", file=manifest,
            where=_yaml_line(manifest, detector, panel),
            hint=f"Did you mean {marker!r}? Spell the marker the same way in both files.")
    return MsclabError(f"control_for names the marker {marker!r}, which panel {panel!r} does not have",
                       file=sheet_path, where=rows,
                       hint=f"Use one of the panel's markers: {', '.join(sorted(markers.values()))}.")


def _yaml_line(manifest: Path, detector: str, panel: str) -> str:
    """``line N`` of ``detector:`` inside the panel's block of experiment.yaml (or the field path)."""
    try:
        text = manifest.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        return f"field 'panels.{panel}.markers.{detector}'"
    in_panel = False
    for number, line in enumerate(text, start=1):
        stripped = line.strip()
        if stripped.startswith(f"{panel}:"):
            in_panel = True
        elif in_panel and stripped.strip("'\"").startswith(detector) and ":" in stripped:
            return f"line {number} (panels.{panel}.markers.{detector})"
    return f"field 'panels.{panel}.markers.{detector}'"


def check_duplicates(sheet: pd.DataFrame, path: Path) -> Problems:
    """No sample is listed twice for a panel, no file twice, and a sample's description agrees across rows."""
    problems: Problems = []
    for key, label in ((["sample_id", "panel"], "sample_id (for this panel)"), (["file"], "file")):
        rows = sheet[sheet[key[-1]] != ""] if key == ["file"] else sheet
        for _, group in rows.groupby(key, sort=False):
            if len(group) > 1:
                lines = ", ".join(str(n) for n in group["_line"])
                value = " / ".join(str(group.iloc[0][k]) for k in key)
                problems.append(MsclabError(f"duplicate {label} {value!r}", file=path, where=f"lines {lines}",
                                            hint="Give every row its own sample_id or file."))
    for sample_id, group in sheet.groupby("sample_id", sort=False):
        for column in SAMPLE_COLUMNS:
            if group[column].nunique() > 1:
                problems.append(MsclabError(
                    f"sample {sample_id!r} has different '{column}' values {sorted(group[column].unique())}",
                    file=path, where=f"lines {', '.join(str(n) for n in group['_line'])}",
                    hint="Rows of one sample must describe it the same way."))
    return problems


def check_files(sheet: pd.DataFrame, path: Path, spec: ExperimentSpec,
                read_channels: Callable[[Path], dict[str, str]]) -> Problems:
    """Every file exists and carries the detectors its panel names."""
    problems: Problems = []
    for _, row in sheet[sheet["file"] != ""].iterrows():
        where = f"line {row['_line']}"
        file = path.parent / row["file"]
        if str(row["file"]).upper().startswith(TODO):
            continue
        if not file.is_file():
            problems.append(MsclabError(f"file {row['file']!r} does not exist", file=path, where=where,
                                        hint="Paths are relative to the samplesheet's folder."))
            continue
        panel = spec.panels.get(row["panel"])
        if panel is None:
            continue
        try:
            channels = read_channels(file)
        except MsclabError as exc:
            problems.append(exc)
            continue
        missing = [d for d in panel.markers if d not in channels]
        if missing:
            problems.append(MsclabError(
                f"has no detector {', '.join(missing)} of panel {row['panel']!r}", file=file,
                where=f"samplesheet {where}",
                hint=f"Its detectors are {', '.join(channels)}; fix the panel's markers in experiment.yaml."))
    return problems


def check_controls(sheet: pd.DataFrame, path: Path, spec: ExperimentSpec) -> Problems:
    """Every control a panel relies on is present for every donor that uses the panel."""
    problems: Problems = []
    for name, panel in spec.panels.items():
        rows = sheet[sheet["panel"] == name]
        if rows.empty:
            continue
        donors = rows.loc[rows["control_type"] == "", "donor"].unique()
        for marker, kind in panel.controls.items():
            lacking = []
            for donor in donors:
                mine = rows[rows["donor"] == donor]
                if kind == "unstimulated":
                    found = (mine["control_type"].str.lower() == "unstimulated") | (
                        mine["stimulus"].str.lower().isin(["none", "unstimulated"]))
                else:  # a spelling difference of the marker is reported once by check_rows
                    found = (mine["control_type"].str.lower() == kind) & (
                        mine["control_for"].map(_normal) == _normal(marker))
                if not found.any():
                    lacking.append(str(donor))
            if lacking:
                problems.append(MsclabError(
                    f"panel {name!r} sets the {marker} threshold from a {kind} control, but donor"
                    f"{'s' if len(lacking) > 1 else ''} {', '.join(lacking)} {'have' if len(lacking) > 1 else 'has'} none",
                    file=path, where=f"panel '{name}', controls",
                    hint=f"Add a {kind} sample per donor to the samplesheet (control_type={kind}"
                         + (f", control_for={marker})" if kind != "unstimulated" else ")")
                         + ", or remove the control from the panel."))
    return problems


def check_normalisation(sheet: pd.DataFrame, path: Path, spec: ExperimentSpec) -> Problems:
    """A panel with batch normalisation has its batch column and a bridge sample in every batch."""
    problems: Problems = []
    for name, panel in spec.panels.items():
        norm = panel.normalisation
        rows = sheet[sheet["panel"] == name]
        if norm is None or rows.empty:
            continue
        where = f"panel '{name}', normalisation"
        if norm.batch not in sheet.columns:
            problems.append(MsclabError(f"panel {name!r} normalises by the column {norm.batch!r}, which the "
                                        "samplesheet does not have", file=path, where=where,
                                        hint=f"Add a {norm.batch} column naming each file's acquisition batch."))
            continue
        batches = list(dict.fromkeys(rows[norm.batch]))
        bridged = set(rows.loc[rows["control_type"].str.lower() == "bridge", norm.batch])
        if "" in batches:
            problems.append(MsclabError(f"panel {name!r}: some rows have no {norm.batch!r}", file=path, where=where,
                                        hint="Name the acquisition batch of every file of the panel."))
        for batch in [b for b in batches if b and b not in bridged]:
            problems.append(MsclabError(f"panel {name!r}: batch {batch!r} has no bridge sample", file=path,
                                        where=where, hint=f"Add the bridge sample acquired in batch {batch} "
                                        "(control_type=bridge), or leave normalisation out."))
        if norm.reference_batch and norm.reference_batch not in batches:
            problems.append(MsclabError(f"panel {name!r}: the reference batch {norm.reference_batch!r} is not in "
                                        f"the samplesheet's {norm.batch!r} column", file=path, where=where,
                                        hint=f"Choose one of: {', '.join(b for b in batches if b)}."))
    return problems


def check_assays(spec: ExperimentSpec, root: Path) -> Problems:
    """Assay exports, layouts and bead panels exist, and each export is in a format msclab reads.

    An export with ``format: auto`` is opened with the readers' sniffer (as
    ``analyze`` will); a named format must be one msclab knows (aliases such as
    ``magellan`` included). A bead-array plate is a folder of FCS files.
    """
    from ..io.assay import resolve_format

    problems: Problems = []
    manifest = root / "experiment.yaml"
    for i, assay in enumerate(spec.assays):
        missing = False
        for field in ("file", "layout", "beads"):
            value = getattr(assay, field)
            if value is None:
                continue
            target = root / value
            exists = target.exists() if field == "file" and assay.beads is not None else target.is_file()
            if not exists:
                missing = missing or field == "file"
                problems.append(MsclabError(f"{field} {str(value)!r} does not exist", file=manifest,
                                            where=f"field 'assays.{i}.{field}'",
                                            hint="Paths are relative to experiment.yaml."))
        if missing or assay.beads is not None:
            continue
        try:
            resolve_format(root / assay.file, assay.format)
        except MsclabError as exc:
            problems.append(MsclabError(exc.message, file=exc.file, where=f"experiment.yaml field 'assays.{i}'"
                                        + (f", {exc.where}" if exc.where else ""), hint=exc.hint))
    return problems


def check_contrasts(sheet: pd.DataFrame, path: Path, spec: ExperimentSpec) -> Problems:
    """Each contrast names existing columns and selects samples on both sides."""
    problems: Problems = []
    for i, contrast in enumerate(spec.contrasts):
        where = f"field 'contrasts.{i}' ({contrast.name})"
        for side in ("treatment", "control"):
            selector = getattr(contrast, side)
            unknown = [c for c in selector if c not in sheet.columns]
            if unknown:
                problems.append(MsclabError(f"{side} uses unknown column(s) {unknown}", file=path, where=where,
                                            hint="Use samplesheet columns such as condition, msc_ratio, stimulus."))
                continue
            # Control rows are left out unless the selector names control_type (as analyze does).
            if not select(sheet, selector, contrast=contrast.name).any():
                problems.append(MsclabError(f"{side} {selector} matches no sample", file=path, where=where,
                                            hint="Check the values against the samplesheet (they must match exactly)."))
        for column in [contrast.pair_by, *contrast.match_on]:
            if column not in sheet.columns:
                problems.append(MsclabError(f"column {column!r} is not in the samplesheet", file=path, where=where,
                                            hint="pair_by and match_on must name samplesheet columns."))
    return problems


def allowed_roots(manifest: Path, allow: Iterable[str | PathLike[str]] = ()) -> tuple[Path, ...]:
    """The folders an experiment may read from: the manifest's folder and every folder in ``allow``."""
    return tuple(Path(os.path.abspath(folder)) for folder in (manifest.parent, *allow))


def is_inside(target: Path, roots: tuple[Path, ...]) -> bool:
    """Whether ``target``, with ``.`` and ``..`` resolved (not symlinks), lies inside one of ``roots``."""
    where = Path(os.path.abspath(target))
    return any(where.is_relative_to(root) for root in roots)


def _escape(value: object, base: Path, roots: tuple[Path, ...], file: Path, where: str) -> MsclabError | None:
    if str(value).upper().startswith(TODO) or is_inside(base / str(value), roots):
        return None
    kind = "an absolute path" if Path(str(value)).is_absolute() else "a path"
    return MsclabError(
        f"{kind} {str(value)!r} leads outside the experiment folder {roots[0]}", file=file, where=where,
        hint="Paths must stay inside the folder of experiment.yaml; copy the file there, or allow its folder "
             "explicitly (command line: --allow FOLDER; Python: allow=[folder]).")


def check_manifest_paths(spec: ExperimentSpec, path: Path, roots: tuple[Path, ...]) -> Problems:
    """Every file experiment.yaml names stays inside ``roots``; names used as output folders are plain names.

    Checked before anything the manifest names is opened: the samplesheet,
    assay exports and layouts, the local catalogue, protocol files (a
    ``protocol`` with a path separator or a protocol-file suffix). Assay ids and
    panel names become folder names under the output folder, so they may not
    hold path separators or be ``.``/``..``.
    """
    named = [("samplesheet", spec.samplesheet), ("catalogue", spec.catalogue)]
    named += [(f"assays.{i}.{field}", getattr(a, field)) for i, a in enumerate(spec.assays)
              for field in ("file", "layout", "beads")]
    named += [(f"panels.{name}.protocol", panel.protocol) for name, panel in spec.panels.items()
              if panel.protocol and ("/" in panel.protocol or "\\" in panel.protocol
                                     or panel.protocol.lower().endswith(_PROTOCOL_FILES))]
    problems = [problem for field, value in named if value is not None
                if (problem := _escape(value, path.parent, roots, path, f"field '{field}'")) is not None]
    names = [(f"assays.{i}.id", a.id) for i, a in enumerate(spec.assays)] + [(f"panels.{n}", n) for n in spec.panels]
    problems += [MsclabError(f"{value!r} cannot be used as a folder name in the output", file=path,
                             where=f"field '{field}'", hint="Use a name without '/', '\\' or '..'.")
                 for field, value in names
                 if value in ("", ".", "..") or any(c in value for c in ("/", "\\", "\x00"))]
    return problems


def check_sheet_paths(sheet: pd.DataFrame, path: Path, roots: tuple[Path, ...]) -> Problems:
    """Every file the samplesheet names (relative to its folder) stays inside ``roots``."""
    return [problem for _, row in sheet[sheet["file"] != ""].iterrows()
            if (problem := _escape(row["file"], path.parent, roots, path, f"line {row['_line']}")) is not None]

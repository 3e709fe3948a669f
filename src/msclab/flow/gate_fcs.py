"""Gate FCS files with a gating source and tabulate the populations: :func:`gate`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any

import pandas as pd


def gate(
    fcs: Iterable[str | PathLike[str]],
    strategy: str | PathLike[str],
    *,
    info: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Gate FCS files and return one row per sample x population (count, % of parent, % of total).

    Parameters
    ----------
    fcs
        The FCS files; the sample id is the file name.
    strategy
        A GatingML 2.0 file, a FlowJo workspace, an msclab protocol YAML or a
        built-in protocol name (``"treg"``); see :func:`msclab.flow.read_strategy`.
    info
        File name -> samplesheet row (donor, plate, control_type ...), so that a
        protocol's thresholds can come from the matching FMO or unstimulated control.

    Returns
    -------
    pandas.DataFrame
        The populations table of ``msclab gate``; a file that cannot be gated
        has no rows and its reason in ``DataFrame.attrs["failed"]`` (file name -> why).

    Examples
    --------
    >>> import msclab
    >>> table = msclab.flow.gate(["example_data/fcs/D1_MSC10_treg.fcs"], "treg")  # doctest: +SKIP
    """
    from .source import read_strategy
    from .gating.run import gate_files, populations_table

    paths = list(fcs)
    records = gate_files(paths, read_strategy(strategy, paths, info))
    table = populations_table(records)
    table.attrs["failed"] = {r.sample_id: r.error for r in records if r.error is not None}
    return table

"""Which control samples gate a sample: the one matching rule of the resolver and the batch planner.

A threshold with ``method: control`` is read from the matched FMO or
unstimulated control, gated through the same parents, and generation 0 of a
proliferation dye is placed from the unstimulated control (FMO controls:
Roederer 2001, doi:10.1002/1097-0320(20010901)45:1<194::AID-CYTO1163>3.0.CO;2-C;
unstimulated reference for dye dilution: Quah & Parish 2010, doi:10.3791/2259).
:func:`match_controls` decides which: a control is its own control; otherwise
the controls sharing the first ``match`` column (e.g. ``donor``, then
``plate``) with the sample; otherwise every control of the kind.
:func:`msclab.flow.protocols.resolve_protocol` applies it to the samples it
gates, :mod:`msclab.batch.controls` to samplesheet rows before reading any
event, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..channels import normalise_marker


def field_text(value: object) -> str:
    """A samplesheet field as text: empty for None and NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def is_control_for(info: Mapping[str, object], kind: str, marker_key: str | None) -> bool:
    """Whether a sample (its samplesheet fields) is a ``kind`` control; an FMO must omit ``marker_key``."""
    if field_text(info.get("control_type")) != kind:
        return False
    return kind != "fmo" or normalise_marker(field_text(info.get("control_for"))) == marker_key


def match_controls(sample: str, own: Mapping[str, object], others: Mapping[str, Mapping[str, object]], kind: str,
                   marker_key: str | None, match: Sequence[str]) -> tuple[list[str], str]:
    """Return the control samples of ``sample`` and how they were matched.

    Parameters
    ----------
    sample, own
        The sample's id and samplesheet fields.
    others
        Candidate samples (id -> fields), in samplesheet order.
    kind, marker_key
        Control type (``fmo``, ``unstimulated``...) and, for an FMO, the
        omitted marker (:func:`~msclab.flow.protocols.normalise_marker` form).
    match
        Columns tried in order.

    Returns
    -------
    controls, how
        ``how`` is ``self`` (the sample is such a control), the matching
        column, ``any`` (every control of the kind) or empty (none found).
    """
    candidates = [c for c, info in others.items() if is_control_for(info, kind, marker_key)]
    if sample in candidates:
        return [sample], "self"
    for column in match:
        value = field_text(own.get(column))
        same = [c for c in candidates if value and field_text(others[c].get(column)) == value]
        if same:
            return same, column
    return candidates, "any" if candidates else ""

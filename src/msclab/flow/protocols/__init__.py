"""Gating protocols: a readable YAML gate tree per panel, resolved per sample from the data.

``load_protocol("treg")`` loads a shipped protocol (``builtin/*.yaml``) or a
YAML path; :func:`resolve_protocol` turns it into one concrete
:class:`~msclab.flow.gating.GateTree` per sample (fixed gates as given,
data-driven gates fitted on the sample, its plate or donor, or its control).
The language is documented in ``docs/protocols.md``.
"""

from ..channels import normalise_marker
from .loader import builtin_protocols, is_protocol_file, load_protocol
from .resolve import Resolution, ResolvedSample, resolve_protocol
from .sample import SampleEvents
from .schema import Protocol, Threshold

__all__ = [
    "Protocol", "Resolution", "ResolvedSample", "SampleEvents", "Threshold", "builtin_protocols",
    "is_protocol_file", "load_protocol", "normalise_marker", "resolve_protocol",
]

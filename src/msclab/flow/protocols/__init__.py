"""Gating protocols: a readable YAML gate tree per panel, resolved per sample from the data.

``load_protocol("treg")`` loads a shipped protocol (``builtin/*.yaml``) or a
YAML path; :func:`resolve_protocol` turns it into one concrete
:class:`~msclab.flow.gating.GateTree` per sample (fixed gates as given,
data-driven gates fitted on the sample, its plate or donor, or its control).
The language is documented in ``docs/protocols.md``.
"""

from ..._lazy import attach

# Names are imported on first use: planning a batch reads protocols without loading the resolvers'
# libraries (scikit-learn, scipy.stats), which only the processes that gate need.
__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Protocol": ".schema", "Resolution": ".resolve", "ResolvedSample": ".resolve", "SampleEvents": ".sample",
        "Threshold": ".schema", "builtin_protocols": ".loader", "is_protocol_file": ".loader",
        "load_protocol": ".loader", "normalise_marker": "..channels", "resolve_protocol": ".resolve",
    },
    ("resolvers", "resolve", "loader", "schema", "sample"),
)

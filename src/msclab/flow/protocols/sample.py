"""One sample's events as the resolvers see them: markers by name, compensated and transformed.

Markers are found by name through the panel's detector -> marker map
(:class:`msclab.flow.channels.ChannelIndex`), so a protocol works on any
instrument. Values are compensated with the file's own
spillover keyword (GatingML ``"FCS"``) and transformed with the protocol's
scale (logicle for fluorescence, linear for scatter), exactly as the gating
engine will evaluate the exported gate tree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...errors import MsclabError
from ..channels import ChannelIndex
from ..compensation import Spillover, spillover_from_anndata, spillover_from_fcs
from ..gating.gates import FCS, Dimension
from ..transforms import Asinh, Linear, Logicle, Transform
from .schema import TransformSpec, Transforms

_SCATTER = ("FSC", "SSC")


def safe_id(name: str) -> str:
    """Return an XML-safe id for a name (``CD25+FoxP3+`` -> ``CD25pos_FoxP3pos``)."""
    text = name.replace("+", "pos").replace("/", "_")
    text = re.sub(r"-(?=$|[^A-Za-z0-9])", "neg", text)
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
    return text if text[:1].isalpha() else f"g_{text}"


@dataclass
class SampleEvents:
    """Events of one FCS file with the panel's marker names.

    Parameters
    ----------
    sample_id
        The sample's id.
    data
        Events x channels, FCS-scaled values.
    channels
        ``$PnN`` of each column.
    markers
        Detector -> marker (the panel's map, or the file's ``$PnS``).
    ranges
        Channel -> ``$PnR`` (top of scale).
    spillover
        The file's spillover matrix, if any.
    info
        Samplesheet fields (donor, plate, control_type ...).
    """

    sample_id: str
    data: np.ndarray
    channels: list[str]
    markers: dict[str, str]
    ranges: dict[str, float]
    spillover: Spillover | None = None
    info: dict[str, Any] = field(default_factory=dict)
    scale: Transforms = field(default_factory=Transforms)
    _linear: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _transforms: dict[str, Transform] = field(default_factory=dict, repr=False)
    _compensated_block: np.ndarray | None = field(default=None, repr=False)
    _index: ChannelIndex | None = field(default=None, repr=False)

    @classmethod
    def from_anndata(cls, adata, sample_id: str, markers: Mapping[str, str] | None = None,
                     info: Mapping[str, Any] | None = None, scale: Transforms | None = None) -> SampleEvents:
        """Build from :func:`msclab.io.read_fcs` output.

        ``markers`` (detector -> marker) defaults to the file's ``$PnS``.
        """
        return cls._from_parts(np.asarray(adata.X), adata.var, spillover_from_anndata(adata), sample_id, markers,
                               info, scale)

    @classmethod
    def from_fcs(cls, fcs, sample_id: str, markers: Mapping[str, str] | None = None,
                 info: Mapping[str, Any] | None = None, scale: Transforms | None = None) -> SampleEvents:
        """Build from an :class:`msclab.io.FCSFile` (:func:`msclab.io.open_fcs`), without an AnnData.

        The same events as :meth:`from_anndata` on :func:`msclab.io.read_fcs`
        output, without the per-event string index that costs more than
        gating a sample.
        """
        data = fcs.read_events(scale=True)
        return cls._from_parts(data, fcs.var, spillover_from_fcs(fcs), sample_id, markers, info, scale)

    @classmethod
    def _from_parts(cls, data: np.ndarray, var: pd.DataFrame, spillover: Spillover | None, sample_id: str,
                    markers: Mapping[str, str] | None, info: Mapping[str, Any] | None,
                    scale: Transforms | None) -> SampleEvents:
        channels = [str(c) for c in var.index]
        if markers is None:
            pns = var["pns"] if "pns" in var else pd.Series("", index=var.index)
            markers = {str(c): str(m) for c, m in pns.items() if isinstance(m, str) and m}
        ranges = {}
        for ch in channels:
            value = var.loc[ch, "range"] if "range" in var else None
            ranges[ch] = float(value) if value is not None and np.isfinite(value) and value > 0 else 262144.0
        return cls(sample_id=sample_id, data=data, channels=channels, markers=dict(markers), ranges=ranges,
                   spillover=spillover, info=dict(info or {}), scale=scale or Transforms())

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.data.shape[0])

    @property
    def index(self) -> ChannelIndex:
        """The sample's channels by marker or channel name (built once)."""
        if self._index is None:
            self._index = ChannelIndex(self.channels, self.markers)
        return self._index

    def channel(self, spec: str) -> str:
        """Return the channel of a marker (``"CD3"``; alternatives ``"Viability|L/D"``) or channel name.

        Raises
        ------
        MsclabError
            When no alternative matches a marker or channel of the sample.
        """
        found = self.index.find(spec)
        if found is not None:
            return found
        raise MsclabError(
            f"the protocol needs the marker {spec!r}, which this sample's panel does not have",
            where=self.sample_id,
            hint=f"The panel's markers are: {', '.join(sorted(set(self.markers.values())))}. "
                 "Name the marker in experiment.yaml (detector -> marker) or use another protocol.",
        )

    def is_scatter(self, channel: str) -> bool:
        """True for scatter and time channels (linear scale)."""
        upper = channel.upper()
        return upper.startswith(_SCATTER) or upper == "TIME"

    def transform(self, channel: str) -> Transform:
        """The gating transform of a channel (built once)."""
        if channel not in self._transforms:
            spec = self.scale.scatter if self.is_scatter(channel) else self.scale.fluorescence
            self._transforms[channel] = _build_transform(spec, self.ranges.get(channel, 262144.0))
        return self._transforms[channel]

    def transform_id(self, channel: str) -> str:
        """Id of the channel's transform in the exported gate tree."""
        return f"tx_{safe_id(channel)}"

    def dimension(self, channel: str) -> Dimension:
        """The engine dimension of a channel: compensated with the file's keyword, then transformed."""
        return Dimension(channel, FCS, self.transform_id(channel))

    def linear(self, channel: str) -> np.ndarray:
        """Compensated values (float64), untransformed: for MFI and proliferation."""
        if channel not in self._linear:
            matrix = self.spillover
            if matrix is not None and matrix.detector_for(channel) is not None:
                k = matrix.detectors.index(matrix.detector_for(channel))
                self._linear[channel] = self._compensated()[k]
            else:
                self._linear[channel] = np.asarray(self.data[:, self.channels.index(channel)], dtype=np.float64)
        return self._linear[channel]

    def _compensated(self) -> np.ndarray:
        """Every spillover detector compensated at once (detectors x events, float64), computed once."""
        if self._compensated_block is None:
            assert self.spillover is not None
            block = np.asarray(self.data[:, self.spillover.column_indices(self.channels)], dtype=np.float64)
            self._compensated_block = np.ascontiguousarray((block @ self.spillover.inverse).T)
        return self._compensated_block

    def values(self, channel: str) -> np.ndarray:
        """Compensated and transformed values: the coordinates gates are drawn in."""
        if channel not in self._values:
            self._values[channel] = self.transform(channel).apply(self.linear(channel))
        return self._values[channel]

    def to_data(self, channel: str, scaled: float) -> float:
        """Return the data value (compensated, untransformed) of a transformed coordinate."""
        xform = self.transform(channel)
        grid = np.linspace(-0.5, 1.5, 4001)
        data = _inverse(xform, grid)
        return float(np.interp(scaled, grid, data))

    def to_scale(self, channel: str, value: float) -> float:
        """Return the transformed coordinate of a data value."""
        return float(self.transform(channel).apply(np.array([value], dtype=float))[0])


def _build_transform(spec: TransformSpec, top: float) -> Transform:
    if spec.kind == "linear":
        return Linear(T=top)
    if spec.kind == "asinh":
        # asinh(x / cofactor) as GatingML fasinh: T / sinh(M ln10) = cofactor.
        m = math.asinh(top / spec.cofactor) / math.log(10.0)
        return Asinh(T=top, M=m, A=spec.A)
    m = min(spec.M, math.log10(top))
    return Logicle(T=top, W=min(spec.W, m / 2), M=m, A=spec.A)


def _inverse(xform: Transform, grid: np.ndarray) -> np.ndarray:
    if isinstance(xform, Logicle):
        return xform.inverse(grid)
    if isinstance(xform, Linear):
        return grid * (xform.T + xform.A) - xform.A
    if isinstance(xform, Asinh):
        ln10 = math.log(10.0)
        return np.sinh(grid * (xform.M + xform.A) * ln10 - xform.A * ln10) * xform.T / math.sinh(xform.M * ln10)
    raise TypeError(f"no inverse for {type(xform).__name__}")

"""Gate shapes: rectangle/range, polygon, ellipsoid, quadrant and boolean gates.

The semantics are those of Gating-ML 2.0 (Spidlen et al., Cytometry A
2015;87:683), checked event by event against its compliance suite:

- rectangle: ``min <= x < max`` in every dimension; a missing bound is open;
- polygon: inside by the even-odd rule on flowutils' winding count (edges
  included), which also covers non-simple polygons;
- ellipsoid: ``(x - mean)^T inv(C) (x - mean) <= distanceSquare``;
- quadrant: each divider splits its dimension at its values; a quadrant is
  the interval ``[v_i, v_i+1)`` holding the quadrant's ``location`` in every
  divider it names;
- boolean: ``and``/``or`` of its operands, ``not`` of one; an operand may be
  used as its complement.

Gates only know shapes; :mod:`msclab.flow.gating.engine` supplies one float64
array per dimension (compensated and transformed as the dimension says).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from flowutils import gating_c as fu_gating_c

#: ``compensation`` value for raw (uncompensated) values.
UNCOMPENSATED = "uncompensated"
#: ``compensation`` value for the FCS file's own spillover keyword (GatingML).
FCS = "FCS"


@dataclass(frozen=True)
class Dimension:
    """One gate dimension: a channel (or a ratio) with its compensation and transform.

    Parameters
    ----------
    name
        The channel's ``$PnN`` (or ``$PnS``, or a fluorochrome of the
        compensation matrix); for a ratio dimension, the id of the
        :class:`~msclab.flow.transforms.Ratio` in the gate tree.
    compensation
        ``"uncompensated"``, ``"FCS"`` (the file's spillover keyword, or none
        if it has none) or the id of a matrix in the gate tree.
    transform
        The id of a transform in the gate tree, or None for the values as they are.
    ratio
        True when ``name`` is a ratio transform (GatingML ``new-dimension``).
    """

    name: str
    compensation: str = UNCOMPENSATED
    transform: str | None = None
    ratio: bool = False


@dataclass(frozen=True)
class Gate:
    """Base of all gate shapes; ``dimensions`` are the values the gate reads."""

    dimensions: tuple[Dimension, ...]

    def contains(self, values: Sequence[np.ndarray]) -> np.ndarray:
        """Return the boolean membership of each event (one array per dimension)."""
        raise NotImplementedError


@dataclass(frozen=True)
class RectangleGate(Gate):
    """A range (1-D), rectangle or hyper-rectangle: ``min <= x < max`` per dimension.

    ``bounds`` holds one ``(min, max)`` per dimension; ``None`` is open.
    ``complement`` selects the events outside (FlowJo's "exclude").
    """

    bounds: tuple[tuple[float | None, float | None], ...] = ()
    complement: bool = False

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.dimensions) or not self.dimensions:
            raise ValueError("a rectangle gate needs one (min, max) per dimension")
        for lo, hi in self.bounds:
            if lo is None and hi is None:
                raise ValueError("a rectangle dimension needs a min or a max")

    def contains(self, values: Sequence[np.ndarray]) -> np.ndarray:
        out = np.ones(values[0].shape[0], dtype=bool)
        for v, (lo, hi) in zip(values, self.bounds):
            if lo is not None:
                out &= v >= lo
            if hi is not None:
                out &= v < hi
        return ~out if self.complement else out


@dataclass(frozen=True)
class PolygonGate(Gate):
    """A 2-D polygon (vertices in gate coordinates); edges count as inside."""

    vertices: tuple[tuple[float, float], ...] = ()
    complement: bool = False

    def __post_init__(self) -> None:
        if len(self.dimensions) != 2 or len(self.vertices) < 3:
            raise ValueError("a polygon gate needs 2 dimensions and at least 3 vertices")

    def contains(self, values: Sequence[np.ndarray]) -> np.ndarray:
        points = np.empty((values[0].shape[0], 2))
        points[:, 0] = values[0]
        points[:, 1] = values[1]
        vertices = np.asarray(self.vertices, dtype=np.float64)
        # flowutils' C winding count (what fu_gating.points_in_polygon wraps); odd = inside
        winding = fu_gating_c.points_in_polygon(vertices, len(vertices), points, len(points))
        out = np.bitwise_and(winding, 1).astype(bool)
        return ~out if self.complement else out


@dataclass(frozen=True)
class EllipsoidGate(Gate):
    """An n-D ellipsoid: Mahalanobis distance squared to ``mean`` at most ``distance_square``."""

    mean: tuple[float, ...] = ()
    covariance: tuple[tuple[float, ...], ...] = ()
    distance_square: float = 1.0
    complement: bool = False

    def __post_init__(self) -> None:
        n = len(self.dimensions)
        if n < 2 or len(self.mean) != n or np.shape(self.covariance) != (n, n):
            raise ValueError("an ellipsoid gate needs >= 2 dimensions, a mean and an n x n covariance matrix")

    def contains(self, values: Sequence[np.ndarray]) -> np.ndarray:
        inv = np.linalg.inv(np.asarray(self.covariance, dtype=float))
        centred = [v - m for v, m in zip(values, self.mean)]
        dist = np.zeros(values[0].shape[0])
        for i, ci in enumerate(centred):
            for j, cj in enumerate(centred):
                dist += inv[i, j] * ci * cj
        out = dist <= self.distance_square
        return ~out if self.complement else out


@dataclass(frozen=True)
class Divider:
    """A quadrant-gate divider: one dimension cut at one or more ``values``."""

    id: str
    dimension: Dimension
    values: tuple[float, ...]


@dataclass(frozen=True)
class QuadrantGate(Gate):
    """Dividers splitting the space; each quadrant is one cell of the grid.

    ``quadrants`` maps a quadrant id to ``{divider id: location}``, a point
    inside the quadrant for each divider it names (GatingML ``position``);
    ``id`` is the quadrant gate's own id.
    """

    id: str = ""
    dividers: tuple[Divider, ...] = ()
    quadrants: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = {d.id for d in self.dividers}
        for qid, positions in self.quadrants.items():
            unknown = set(positions) - ids
            if unknown:
                raise ValueError(f"quadrant {qid} names unknown dividers {sorted(unknown)}")

    def bounds(self, quadrant: str) -> list[tuple[Dimension, float | None, float | None]]:
        """Return ``(dimension, min, max)`` of ``quadrant`` for each divider it names."""
        out = []
        for div in self.dividers:
            if div.id not in self.quadrants[quadrant]:
                continue
            cuts = sorted(div.values)
            i = int(np.searchsorted(cuts, self.quadrants[quadrant][div.id], side="right"))
            out.append((div.dimension, cuts[i - 1] if i > 0 else None, cuts[i] if i < len(cuts) else None))
        return out

    def quadrant_gate(self, quadrant: str) -> RectangleGate:
        """Return ``quadrant`` as the equivalent rectangle gate."""
        b = self.bounds(quadrant)
        return RectangleGate(tuple(d for d, _, _ in b), tuple((lo, hi) for _, lo, hi in b))


@dataclass(frozen=True)
class BooleanGate:
    """``and``/``or``/``not`` of other populations.

    ``operands`` holds ``(population id, use as complement)`` pairs; the
    membership of an operand includes its ancestors.
    """

    op: str
    operands: tuple[tuple[str, bool], ...]
    dimensions: tuple[Dimension, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in {"and", "or", "not"}:
            raise ValueError(f"boolean gate op must be and, or or not, not {self.op!r}")
        if self.op == "not" and len(self.operands) != 1:
            raise ValueError("a 'not' gate takes exactly one operand")
        if self.op != "not" and len(self.operands) < 2:
            raise ValueError(f"an '{self.op}' gate takes at least two operands")

    def combine(self, members: Sequence[np.ndarray]) -> np.ndarray:
        """Combine the operands' memberships (in ``operands`` order)."""
        arrays = [~m if comp else m for m, (_, comp) in zip(members, self.operands)]
        if self.op == "not":
            return ~arrays[0]
        reducer = np.logical_and if self.op == "and" else np.logical_or
        return reducer.reduce(arrays)


def gate_type(gate: Gate | BooleanGate) -> str:
    """Return the GatingML element name of a gate (``RectangleGate``...)."""
    return type(gate).__name__

"""Scale transforms for flow data: linear, log, asinh, logicle, hyperlog, FlowJo biex/log.

Every transform maps an array of (compensated) values to display/gating
coordinates and records its parameters (:meth:`Transform.params`) so a run can
say exactly what it did. The GatingML 2.0 transforms follow the definitions of
the Gating-ML 2.0 standard (Spidlen et al., Cytometry A 2015;87:683-687,
"Transformations" part):

- ``flin(x, T, A) = (x + A) / (T + A)``
- ``flog(x, T, M) = 1/M * log10(x / T) + 1``
- ``fasinh(x, T, M, A) = (asinh(x * sinh(M ln10) / T) + A ln10) / ((M + A) ln10)``
- ``logicle(x, T, W, M, A)``: the root of ``B(y) - x`` for the biexponential
  ``B(y) = a e^(by) - c e^(-dy) - f`` (Parks, Roederer & Moore, Cytometry A
  2006;69:541; Moore & Parks, Cytometry A 2012;81:273)
- ``hyperlog(x, T, W, M, A)``: the root of ``EH(y) - x`` (Bagwell 2005)
- ``fratio(x, y, A, B, C) = A (x - B) / (y - C)`` (:class:`Ratio`)

plus FlowJo 10's own biexponential (a lookup table ported from cytolib's port of
FlowJo's Java code, as FlowKit does) and FlowJo's clamped log.

Logicle is computed from a table of cubic pieces (:class:`LogicleTable`): the
root of ``B(y) = x`` is solved once per parameter set by Newton's method (as
Moore & Parks 2012) at 1024 points per octave of ``|x|``, and each value is
then a cubic Hermite interpolation between the two points around it, within
1e-14 of the root (the bound is derived and checked in :class:`LogicleTable`).
flowutils' C loop was measured at ~0.19 s per million values and a vectorised
Newton step from a good start at ~0.03 s; the table takes ~0.01 s. Hyperlog
uses flowutils' C implementation.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from typing import Any, ClassVar

import numpy as np
from flowutils import transforms as fu_transforms

LN10 = math.log(10.0)
_EPS = np.finfo(float).eps


class Transform(ABC):
    """A one-dimensional scale transform."""

    #: Short name used in parameter records and exports.
    kind: ClassVar[str]

    @abstractmethod
    def apply(self, values: np.ndarray) -> np.ndarray:
        """Return the transformed values as a new float64 array."""

    def params(self) -> dict[str, Any]:
        """Return ``{"kind": ..., <parameter>: value}`` for provenance."""
        return {"kind": self.kind, **{k: v for k, v in asdict(self).items() if not k.startswith("_")}}


@dataclass(frozen=True)
class Linear(Transform):
    """GatingML ``flin``: ``(x + A) / (T + A)``."""

    T: float
    A: float = 0.0
    kind: ClassVar[str] = "flin"

    def apply(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=float) + self.A) / (self.T + self.A)


@dataclass(frozen=True)
class Log(Transform):
    """GatingML ``flog``: ``1/M * log10(x / T) + 1``; undefined (NaN/-inf) for ``x <= 0``."""

    T: float
    M: float
    kind: ClassVar[str] = "flog"

    def apply(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.asarray(values, dtype=float) / self.T) / self.M + 1.0


@dataclass(frozen=True)
class Asinh(Transform):
    """GatingML ``fasinh``: ``(asinh(x sinh(M ln10) / T) + A ln10) / ((M + A) ln10)``."""

    T: float
    M: float
    A: float = 0.0
    kind: ClassVar[str] = "fasinh"

    def apply(self, values: np.ndarray) -> np.ndarray:
        scale = math.sinh(self.M * LN10) / self.T
        out = np.arcsinh(np.asarray(values, dtype=float) * scale)
        out += self.A * LN10
        out /= (self.M + self.A) * LN10
        return out


@dataclass(frozen=True)
class Hyperlog(Transform):
    """GatingML ``hyperlog`` (Bagwell 2005), computed by flowutils' C code."""

    T: float
    W: float
    M: float
    A: float = 0.0
    kind: ClassVar[str] = "hyperlog"

    def apply(self, values: np.ndarray) -> np.ndarray:
        data = np.array(values, dtype=float).ravel()
        return fu_transforms.hyperlog(data, None, t=self.T, m=self.M, w=self.W, a=self.A)


_TAYLOR_LENGTH = 16
_GUESS_POINTS = 1 << 16


@dataclass(frozen=True)
class Logicle(Transform):
    """GatingML ``logicle`` (Parks et al. 2006; Moore & Parks 2012).

    Parameters
    ----------
    T
        Top of scale (the largest data value, e.g. 262144).
    W
        Width of the linear region in decades.
    M
        Decades of the full scale.
    A
        Additional negative decades.
    """

    T: float
    W: float
    M: float
    A: float = 0.0
    kind: ClassVar[str] = "logicle"

    def __post_init__(self) -> None:
        if not (self.T > 0 and self.M > 0 and 0 <= self.W <= self.M / 2 and -self.W <= self.A <= self.M - 2 * self.W):
            raise ValueError(
                f"invalid logicle parameters T={self.T}, W={self.W}, M={self.M}, A={self.A}: "
                "need T > 0, M > 0, 0 <= W <= M/2 and -W <= A <= M - 2W"
            )

    @cached_property
    def _coef(self) -> dict[str, Any]:
        """The biexponential's constants (Moore & Parks 2012, ``Logicle`` constructor)."""
        T, W, M, A = self.T, self.W, self.M, self.A
        w = W / (M + A)
        x2 = A / (M + A)
        x1 = x2 + w
        x0 = x2 + 2 * w
        b = (M + A) * LN10
        d = _logicle_solve_d(b, w)
        c_a = math.exp(x0 * (b + d))
        mf_a = math.exp(b * x1) - c_a / math.exp(d * x1)
        a = T / ((math.exp(b) - mf_a) - c_a / math.exp(d))
        c = c_a * a
        f = -mf_a * a
        pos, neg = a * math.exp(b * x1), -c / math.exp(d * x1)
        taylor = np.empty(_TAYLOR_LENGTH)
        for i in range(_TAYLOR_LENGTH):
            pos *= b / (i + 1)
            neg *= -d / (i + 1)
            taylor[i] = pos + neg
        taylor[1] = 0.0  # exactly zero by the logicle condition
        return {"a": a, "b": b, "c": c, "d": d, "f": f, "x1": x1, "x_taylor": x1 + w / 4, "taylor": taylor}

    def _series(self, y: np.ndarray) -> np.ndarray:
        """Taylor series of the biexponential around ``x1`` (precise near zero)."""
        k = self._coef
        t = k["taylor"]
        x = y - k["x1"]
        total = t[-1] * x
        for i in range(_TAYLOR_LENGTH - 2, 1, -1):
            total += t[i]
            total *= x
        total *= x
        total += t[0]
        total *= x
        return total

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        """Return data values for logicle-scale values (the biexponential ``B``)."""
        k = self._coef
        y = np.array(scaled, dtype=float)
        negative = y < k["x1"]
        y[negative] = 2 * k["x1"] - y[negative]
        out = np.empty_like(y)
        near = y < k["x_taylor"]
        out[near] = self._series(y[near])
        far = ~near
        yf = y[far]
        out[far] = (k["a"] * np.exp(k["b"] * yf) + k["f"]) - k["c"] * np.exp(-k["d"] * yf)
        out[negative] = -out[negative]
        return out

    @property
    def _guess_table(self) -> tuple[float, float, np.ndarray]:
        """Logicle values on a grid uniform in ``u = asinh(x / s)``, for ``0 <= x <= 4T``.

        Returns ``(s, du, y)``. Linear interpolation in ``u`` is within ~1e-9
        of the root, so one Newton step reaches machine precision. Built once
        per parameter set and shared by equal transforms (every sample of a
        panel has the same ones).
        """
        return _logicle_guess_table(self)

    def _newton_step(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the Newton step for the roots ``y`` of ``B(y) = x`` (``x >= 0``)."""
        k = self._coef
        ae = np.exp(k["b"] * y)
        ae *= k["a"]
        ce = np.exp(-k["d"] * y)
        ce *= k["c"]
        resid = ae - ce
        resid += k["f"]
        resid -= x
        ae *= k["b"]
        ce *= k["d"]
        ae += ce  # dB/dy
        resid /= ae
        return resid

    def _newton(self, x: np.ndarray, y: np.ndarray, tolerance: float) -> np.ndarray:
        """Refine ``y`` in place until every Newton step is below ``tolerance``."""
        todo = np.arange(x.size)
        xs, ys = x, y
        for _ in range(60):
            step = self._newton_step(xs, ys)
            ys -= step
            if todo.size == x.size:
                y = ys
            else:
                y[todo] = ys
            unfinished = np.abs(step) > tolerance
            if not unfinished.any():
                return y
            todo = todo[unfinished]
            xs, ys = x[todo], y[todo]
        raise ArithmeticError(f"logicle did not converge for {todo.size} values (T={self.T}, W={self.W}, M={self.M}, A={self.A})")

    def apply(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        table = _logicle_table(self)
        return table(values) if table is not None else self.solve(values)

    def solve(self, values: np.ndarray) -> np.ndarray:
        """Return the logicle values by Newton's method (the reference :meth:`apply` is checked against).

        Starts from linear interpolation in a table uniform in ``asinh(x / s)``
        (within ~1e-9 of the root) and refines until every step is below 1e-8,
        i.e. to rounding (Newton converges quadratically). NaN stays NaN and
        +-inf stays +-inf.
        """
        k = self._coef
        s, du, table = self._guess_table
        values = np.asarray(values)
        x = np.abs(values, dtype=float)
        nonfinite = None
        if x.size and not np.isfinite(x.max()):
            nonfinite = ~np.isfinite(x)
            x[nonfinite] = 0.0
        with np.errstate(over="ignore"):  # beyond float range: inf, solved below like any value beyond 4T
            pos = np.arcsinh(x / s)
        pos /= du
        np.minimum(pos, _GUESS_POINTS - 1.5, out=pos)
        idx = pos.astype(np.intp)
        pos -= idx
        lo = table[idx]
        y = table[idx + 1]
        y -= lo
        y *= pos
        y += lo
        beyond = x > 4 * self.T
        if beyond.any():
            y[beyond] = np.log(x[beyond] / k["a"]) / k["b"]
        # one Newton step from a ~1e-9 start is exact to rounding; values whose
        # step was larger (beyond the table) iterate further
        y = self._newton(x, y, tolerance=1e-8)
        if nonfinite is not None:
            y[nonfinite] = np.inf
        neg = values < 0
        if neg.any():
            y[neg] = 2 * k["x1"] - y[neg]
        if nonfinite is not None:
            y[np.isnan(values)] = np.nan
        return y

    @property
    def table_error(self) -> float | None:
        """Largest difference of :meth:`apply` to :meth:`solve` at the table's check points (None: no table)."""
        table = _logicle_table(self)
        return None if table is None else table.error


#: Cells per octave of ``|x|`` in :class:`LogicleTable`: 2**10, the top 10 bits of the float's mantissa.
_CELL_BITS = 10
#: Largest interpolation error a :class:`LogicleTable` may have (logicle units), else the solver is used.
TABLE_TOLERANCE = 1e-13


class LogicleTable:
    r"""Logicle as cubic Hermite interpolation on cells uniform within each octave of ``|x|``.

    Cell boundaries are ``2**e * (1 + m / 1024)`` (``m = 0..1023``), for ``e``
    from 16 octaves below the linear width ``s`` of the scale to 6 octaves
    above ``T``, plus one cell ``[0, 2**e_min)``. They are exact binary floats,
    so the cell of a value is its exponent and top 10 mantissa bits (an
    integer shift of its bit pattern), with no search. On each cell
    ``[x0, x0 + h]`` the cubic matches the root ``y(x)`` of ``B(y) = x`` and
    its slope ``1 / B'(y)`` (computed by :meth:`Logicle.solve`) at both ends.
    Negative values use the logicle symmetry ``y(-x) = 2 x1 - y(x)``. Values
    beyond the cells (and NaN) are solved by :meth:`Logicle.solve`.

    Error bound: cubic Hermite interpolation errs by at most
    ``h**4 / 384 * max |y''''|`` on a cell (Burden & Faires, Numerical
    Analysis, theorem 3.9). On the logarithmic part ``y = ln(x) / b + const``,
    so ``|y''''| = 6 / (b x**4)``, and with ``h <= x / 1024`` the bound is
    ``6 / (384 b) * 2**-40``: 1.4e-15 for ``M + A = 4.5`` (``b = 10.4``),
    a few units in the last place of logicle values near 1; near zero the
    cells are narrower than the scale's linear width by 2**10 or more. The
    table is checked when it is built: the largest difference to
    :meth:`Logicle.solve` at three interior points of every cell is kept as
    :attr:`error` (1.7e-15 for the default ``T=262144, W=0.5, M=4.5``, at most
    8e-15 for the parameter sets of the tests) and must be at most
    :data:`TABLE_TOLERANCE` (1e-13), else :meth:`Logicle.apply` uses the
    solver. A gate decision can change only for an event whose logicle value
    is closer than that to a gate boundary.
    """

    def __init__(self, logicle: Logicle) -> None:
        k = logicle._coef
        s = logicle._guess_table[0]
        e_min = math.floor(math.log2(s)) - 16
        e_max = math.ceil(math.log2(logicle.T)) + 6
        m = np.arange((e_max - e_min) << _CELL_BITS)
        edges = np.ldexp(1.0 + (m & ((1 << _CELL_BITS) - 1)) / (1 << _CELL_BITS), e_min + (m >> _CELL_BITS))
        edges = np.concatenate([[0.0], edges, [math.ldexp(1.0, e_max)]])
        y = logicle.solve(edges)
        slope = 1.0 / (k["a"] * k["b"] * np.exp(k["b"] * y) + k["c"] * k["d"] * np.exp(-k["d"] * y))
        h = np.diff(edges)
        secant = np.diff(y) / h
        self.x1: float = k["x1"]
        self.top = float(edges[-1])
        self._shift = 52 - _CELL_BITS
        self._offset = int(np.array([math.ldexp(1.0, e_min)]).view(np.int64)[0] >> self._shift) - 1
        self._x0 = edges[:-1]
        self._c0 = y[:-1] - self.x1
        self._c1 = slope[:-1]
        self._c2 = (3 * secant - 2 * slope[:-1] - slope[1:]) / h
        self._c3 = (slope[:-1] + slope[1:] - 2 * secant) / h**2
        for array in (self._x0, self._c0, self._c1, self._c2, self._c3):
            array.setflags(write=False)
        self._solve = logicle.solve
        inner = (self._x0[:, None] + h[:, None] * np.array([0.25, 0.5, 0.75])).ravel()
        #: Largest difference to :meth:`Logicle.solve` at three interior points of every cell.
        self.error = float(np.max(np.abs(self._interpolate(inner) - logicle.solve(inner))))

    def _interpolate(self, x: np.ndarray, a: np.ndarray | None = None) -> np.ndarray:
        """Interpolated values of a float64 array with every ``|x| < top`` (``a``: ``|x|``, overwritten)."""
        a = np.abs(x) if a is None else a
        cell = a.view(np.int64) >> self._shift
        cell -= self._offset
        np.maximum(cell, 0, out=cell)
        term = np.take(self._x0, cell)
        a -= term  # the offset in the cell
        y = np.take(self._c3, cell)
        for coefficient in (self._c2, self._c1, self._c0):  # Horner's scheme
            y *= a
            y += np.take(coefficient, cell, out=term)
        np.copysign(y, x, out=y)
        y += self.x1
        return y

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Logicle values of ``x`` (a new float64 array)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        a = np.abs(x)
        with np.errstate(invalid="ignore"):
            if x.size == 0 or a.max() < self.top:  # False for NaN too
                return self._interpolate(x, a)
            inside = a < self.top
        y = np.empty_like(x)
        y[inside] = self._interpolate(x[inside])
        y[~inside] = self._solve(x[~inside])
        return y


def _logicle_solve_d(b: float, w: float) -> float:
    """Solve ``2 (ln d - ln b) + w (b + d) = 0`` for ``d`` (safe Newton, Moore & Parks 2012)."""
    if w == 0:
        return b
    tolerance = 2 * b * _EPS
    d_lo, d_hi = 0.0, b
    d = (d_lo + d_hi) / 2
    last_delta = d_hi - d_lo
    f_b = -2 * math.log(b) + w * b
    f = 2 * math.log(d) + w * d + f_b
    for _ in range(40):
        df = 2 / d + w
        if ((d - d_hi) * df - f) * ((d - d_lo) * df - f) >= 0 or abs(1.9 * f) > abs(last_delta * df):
            delta = (d_hi - d_lo) / 2
            d = d_lo + delta
            if d == d_lo:
                return d
        else:
            delta = f / df
            previous = d
            d -= delta
            if d == previous:
                return d
        if abs(delta) < tolerance:
            return d
        last_delta = delta
        f = 2 * math.log(d) + w * d + f_b
        if f == 0:
            return d
        if f < 0:
            d_lo = d
        else:
            d_hi = d
    raise ArithmeticError(f"logicle: no solution for d (b={b}, w={w})")


@dataclass(frozen=True)
class FlowJoLog(Transform):
    """FlowJo 10's log scale: values below ``offset`` are clamped, then ``log10(x/offset)/decades``."""

    offset: float
    decades: float
    kind: ClassVar[str] = "flowjo_log"

    def apply(self, values: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(values, dtype=float), self.offset)
        return (np.log10(x) - math.log10(self.offset)) / self.decades


@dataclass(frozen=True)
class FlowJoBiex(Transform):
    """FlowJo 10's biexponential, as its 4096-channel lookup table (FlowJo display units 0-4096).

    The table is ported from cytolib (``biexpTrans``), itself a port of FlowJo's
    Java code, as in FlowKit's ``generate_biex_lut``; values outside the table
    are clamped to its ends, like FlowJo.
    """

    negative: float = 0.0
    width: float = -10.0
    positive: float = 4.418540
    max_value: float = 262144.000029
    kind: ClassVar[str] = "flowjo_biex"
    _channels: ClassVar[int] = 4096

    @cached_property
    def _lut(self) -> tuple[np.ndarray, np.ndarray]:
        n = self._channels
        decades = self.positive
        width = math.log10(-self.width)
        decades -= width / 2
        extra = max(self.negative, 0.0) + width / 2
        zero_point = int((extra * n) / (extra + decades))
        zero_point = int(min(zero_point, n / 2))
        if zero_point > 0:
            decades = extra * n / zero_point
        width /= 2 * decades
        positive_range = LN10 * decades
        minimum = self.max_value / math.exp(positive_range)
        negative_range = _flowjo_log_root(positive_range, width)
        n_points = n + 1
        idx = np.arange(n_points)
        positive = np.exp(idx / float(n_points) * positive_range)
        negative = np.exp(idx / float(n_points) * -negative_range)
        negative *= math.exp((positive_range + negative_range) * (width + extra / decades))
        shift = positive[zero_point] - negative[zero_point]
        positive[zero_point:] = minimum * ((positive[zero_point:] - negative[zero_point:]) - shift)
        below = np.arange(zero_point)
        positive[below] = -positive[2 * zero_point - below]
        return positive, idx.astype(float)

    def apply(self, values: np.ndarray) -> np.ndarray:
        data_values, channels = self._lut
        return np.interp(np.asarray(values, dtype=float), data_values, channels)


def _flowjo_log_root(b: float, w: float) -> float:
    """The root used by FlowJo's biex table (cytolib ``biexpTrans::logRoot``)."""
    if w == 0:
        return b
    x_lo, x_hi = 0.0, b
    d = (x_lo + x_hi) / 2
    dx_last = abs(int(x_lo - x_hi))
    fb = -2 * math.log(b) + w * b
    f = 2.0 * math.log(d) + w * b + fb
    df = 2 / d + w
    for _ in range(100):
        if (((d - x_hi) * df - f) - ((d - x_lo) * df - f)) > 0 or abs(2 * f) > abs(dx_last * df):
            dx = (x_hi - x_lo) / 2
            d = x_lo + dx
            if d == x_lo:
                return d
        else:
            dx = f / df
            previous = d
            d -= dx
            if d == previous:
                return d
        if abs(dx) < 1.0e-12:
            return d
        dx_last = dx
        f = 2 * math.log(d) + w * d + fb
        df = 2 / d + w
        if f < 0:
            x_lo = d
        else:
            x_hi = d
    return d


@dataclass(frozen=True)
class Ratio:
    """GatingML ``fratio``: a new dimension ``A (x - B) / (y - C)`` from two channels."""

    numerator: str
    denominator: str
    A: float = 1.0
    B: float = 0.0
    C: float = 0.0
    kind: ClassVar[str] = "fratio"

    def apply(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the ratio of two value arrays (float64)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.A * ((np.asarray(x, dtype=float) - self.B) / (np.asarray(y, dtype=float) - self.C))

    def params(self) -> dict[str, Any]:
        """Return the parameters for provenance."""
        return {"kind": self.kind, **asdict(self)}


_SCATTER_PREFIXES = ("FSC", "SSC")


@dataclass(frozen=True)
class ChannelInfo:
    """What :func:`default_transforms` needs to know about one channel."""

    name: str
    range: float | None = None
    type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def default_transform(channel: ChannelInfo) -> Transform:
    """Return msclab's default transform for one channel.

    Scatter and time channels get a linear scale to their range; every other
    (fluorescence) channel gets logicle with ``T`` = the channel range (262144
    if unknown), ``W = 0.5``, ``M = 4.5``, ``A = 0``, the defaults recommended
    by Parks et al. (2006) for 18-bit digital data.

    Parameters
    ----------
    channel
        The channel's ``$PnN`` name, range (after scaling) and type
        (``"scatter"``, ``"time"``, ``"fluorescence"``...; guessed from the name
        when absent).
    """
    top = float(channel.range) if channel.range and channel.range > 0 else 262144.0
    kind = (channel.type or "").lower()
    name = channel.name.upper()
    if kind in {"scatter", "time"} or name.startswith(_SCATTER_PREFIXES) or name == "TIME":
        return Linear(T=top)
    top = max(top, 10.0)
    m = max(min(4.5, math.log10(top)), 1.0)
    return Logicle(T=top, W=min(0.5, m / 2), M=m, A=0.0)


def default_transforms(channels: Sequence[ChannelInfo]) -> dict[str, Transform]:
    """Return :func:`default_transform` for each channel, keyed by name."""
    return {c.name: default_transform(c) for c in channels}


def transform_params(transforms: Mapping[str, Transform | Ratio]) -> dict[str, dict[str, Any]]:
    """Return the parameter record of every transform, for provenance."""
    return {key: t.params() for key, t in transforms.items()}


@lru_cache(maxsize=64)
def _logicle_table(logicle: Logicle) -> LogicleTable | None:
    """The :class:`LogicleTable` of a parameter set (cached), or None if it misses :data:`TABLE_TOLERANCE`."""
    table = LogicleTable(logicle)
    return table if table.error <= TABLE_TOLERANCE else None


@lru_cache(maxsize=256)
def _logicle_guess_table(logicle: Logicle) -> tuple[float, float, np.ndarray]:
    """The guess table of :attr:`Logicle._guess_table` (read-only, cached by parameters)."""
    k = logicle._coef
    s = max(abs(float(logicle.inverse(np.array([k["x1"] + logicle.W / (logicle.M + logicle.A) / 2]))[0])), 1e-12)
    u_top = math.asinh(4 * logicle.T / s)
    x = s * np.sinh(np.linspace(0.0, u_top, _GUESS_POINTS))
    fine_y = np.linspace(k["x1"], 1.0 + math.log10(4) / (logicle.M + logicle.A) + 1e-3, 1 << 16)
    y = np.interp(x, logicle.inverse(fine_y), fine_y)
    table = logicle._newton(x, y, tolerance=1e-15)
    table.setflags(write=False)
    return s, u_top / (_GUESS_POINTS - 1), table

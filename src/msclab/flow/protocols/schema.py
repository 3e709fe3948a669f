"""The protocol YAML schema: a gate tree per panel, each gate fixed or data-driven.

A protocol lists gates in order, parents first. Every gate names the markers
it reads (by marker name, ``"CD3"``, or alternatives ``"Viability|L/D"``;
scatter and time by channel name, ``"FSC-A"``), how its coordinates are found
(``method``) and where the rule comes from (``reference``). See
``docs/protocols.md`` for the language with examples.

Methods
-------
``cluster``
    A Gaussian mixture on two dimensions (components chosen by BIC); the
    component picked by ``select`` and those forming one mode with it become
    a polygon around the events they own; density-valley thresholds when the
    mixture cannot be trusted.
``singlets``
    A band around the robust line of height against area (doublets have a
    lower height for their area).
``threshold``
    One dimension cut at a threshold found by ``valley``, ``control``,
    ``percentile`` or ``fixed``; ``keep`` says which side.
``quadrant``
    Two thresholds; each listed quadrant is a population.
``divided``
    Cells below the generation-0 peak of a proliferation dye (CFSE/CellTrace),
    generation 0 set from the unstimulated control.
``boolean``
    ``and``/``or``/``not`` of other gates.
``rectangle`` / ``polygon``
    Fixed coordinates, in data units (before the transform).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROOT = "root"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


class Threshold(_Strict):
    """How a one-dimensional cut is placed.

    Attributes
    ----------
    method
        ``valley``: the lowest density between the two most prominent peaks
        of the parent population; ``control``: a percentile of the matched
        control (FMO / unstimulated) in the same parent population;
        ``beyond_peak``: ``width`` SDs beyond the tallest (negative) peak;
        ``percentile``: a percentile of the sample's own parent population;
        ``fixed``: ``value`` in data units.
    percentile
        For ``control`` and ``percentile``.
    control
        For ``control``: ``fmo``, ``unstimulated`` or ``panel`` (the control
        the experiment's panel names for this marker).
    match
        For ``control``: samplesheet columns tried in turn to find the
        sample's own control (the first that gives one wins).
    margin
        Added to the threshold, in transformed units (0-1 scale).
    value
        For ``fixed``.
    between
        For ``valley``: only look for the valley inside this range
        (transformed units).
    separation
        For ``valley``: peaks closer than this (transformed units) are one peak.
    width
        For ``beyond_peak``, and for ``valley`` when there is a single peak:
        the distance of the cut from the peak, in SDs of the peak.
    fallback
        For ``control``: the method used when the experiment has no such
        control (``valley`` or ``percentile``).
    """

    method: Literal["valley", "beyond_peak", "control", "percentile", "fixed"] = "valley"
    percentile: float = Field(99.5, gt=0, lt=100)
    control: Literal["fmo", "unstimulated", "panel"] = "panel"
    match: list[Literal["donor", "plate"]] = Field(default_factory=lambda: ["donor", "plate"])
    margin: float = 0.0
    value: float | None = None
    between: tuple[float, float] | None = None
    separation: float = Field(0.1, gt=0)
    width: float = Field(4.0, gt=0)
    fallback: Literal["valley", "beyond_peak", "percentile"] = "valley"

    @model_validator(mode="after")
    def _fixed_has_value(self) -> Threshold:
        if self.method == "fixed" and self.value is None:
            raise ValueError("a fixed threshold needs a value")
        return self


class _Gate(_Strict):
    """Fields every gate has.

    Attributes
    ----------
    name
        The population name shown in paths (``Treg``, ``Th1/17``).
    parent
        The parent gate's name, or ``root``.
    reference
        Where the gating rule comes from (OMIP, catalogue section, paper).
    group_by
        Fit the gate on the pooled parent events of every sample of the same
        ``plate`` or ``donor`` (openCyto's ``groupBy``), or per ``sample``.
    report
        Whether the population's statistics become readouts.
    catalogue_id
        The effects-catalogue id this population's frequency measures.
    mfi
        Markers whose median and mean intensity are reported for this population.
    optional
        ``false`` (core): the panel means nothing without this gate, and a
        sample lacking its markers fails. ``true``: when the panel lacks the
        gate's markers, the gate and every gate below it are skipped with a
        note (unless ``if_missing`` is ``keep_parent``).
    if_missing
        For an ``optional`` gate the panel cannot run: ``skip`` (the gate
        and every gate below it are skipped) or ``keep_parent`` (an exclusion
        gate, such as CD45+ removing carried-over MSCs: the gates below are
        gated on its parent instead, and the skip is noted).
    """

    name: str
    parent: str = ROOT
    reference: str
    group_by: Literal["sample", "plate", "donor"] = "sample"
    report: bool = True
    catalogue_id: str | None = None
    mfi: list[str] = Field(default_factory=list)
    optional: bool = False
    if_missing: Literal["skip", "keep_parent"] = "skip"

    @model_validator(mode="after")
    def _keep_parent_is_optional(self) -> _Gate:
        if self.if_missing == "keep_parent" and not self.optional:
            raise ValueError(f"gate {self.name!r}: 'if_missing: keep_parent' needs 'optional: true'")
        return self

    @field_validator("name")
    @classmethod
    def _no_root(cls, value: str) -> str:
        if value == ROOT or not value:
            raise ValueError("a gate cannot be called 'root' or be empty")
        return value


class ClusterGate(_Gate):
    """A 2-D population found by a Gaussian mixture (lymphocytes, CD25hi CD127lo).

    ``select`` is ``largest`` (the heaviest component) or a direction per
    dimension, e.g. ``{x: high, y: low}``: the component whose mean lies
    furthest that way (in units of the data's spread), on that side of the
    parent's median. ``components`` is the most the BIC may choose.
    ``max_fraction`` is the largest share of the parent the population may
    hold (default 0.5 for a directional ``select``, 1 for ``largest``); a
    bigger result means the mixture missed the population, and density-valley
    thresholds are used instead (see :func:`~msclab.flow.protocols.resolvers.cluster_gate`).
    """

    method: Literal["cluster"]
    x: str
    y: str
    components: int = Field(4, ge=1, le=12)
    select: Literal["largest"] | dict[Literal["x", "y"], Literal["high", "low"]] = "largest"
    min_weight: float = Field(0.003, ge=0, lt=1)
    max_fraction: float | None = Field(None, gt=0, le=1)

    @property
    def fraction_limit(self) -> float:
        """``max_fraction``, or its default for the ``select`` rule."""
        if self.max_fraction is not None:
            return self.max_fraction
        return 1.0 if self.select == "largest" else 0.5


class SingletsGate(_Gate):
    """Singlets: events within ``width`` SDs of the robust height-vs-area line."""

    method: Literal["singlets"]
    x: str = "FSC-A"
    y: str = "FSC-H"
    width: float = Field(4.0, gt=0)


class ThresholdGate(_Gate):
    """One marker above (positive) or below (negative) a threshold."""

    method: Literal["threshold"]
    x: str
    keep: Literal["above", "below"] = "above"
    threshold: Threshold = Field(default_factory=Threshold)


class Quadrant(_Strict):
    """One quadrant kept as a population: the sign it has on x and y."""

    name: str
    x: Literal["+", "-"]
    y: Literal["+", "-"]
    report: bool = True
    catalogue_id: str | None = None
    mfi: list[str] = Field(default_factory=list)


class QuadrantSpec(_Strict):
    """Two thresholds; each listed quadrant becomes a population (``optional`` as for other gates).

    The protocol's description of a quadrant gate; the resolver turns it into
    the gating engine's :class:`msclab.flow.gating.QuadrantGate`.

    ``optional_axis`` names an axis whose marker a panel may lack. Without
    it, the quadrants negative on that axis are gated on the other axis
    alone (the marker taken as unexpressed: CD4+ T cells in a panel without
    CD8) and the quadrants positive on it are skipped, with every gate below
    them.
    """

    method: Literal["quadrant"]
    parent: str = ROOT
    reference: str
    group_by: Literal["sample", "plate", "donor"] = "sample"
    optional: bool = False
    optional_axis: Literal["x", "y"] | None = None
    x: str
    y: str
    x_threshold: Threshold = Field(default_factory=Threshold)
    y_threshold: Threshold = Field(default_factory=Threshold)
    quadrants: list[Quadrant] = Field(min_length=1)

    @property
    def names(self) -> list[str]:
        """The populations this gate defines."""
        return [q.name for q in self.quadrants]


class DividedGate(_Gate):
    """Cells that divided: proliferation dye below the generation-0 peak.

    Generation 0 (its position and width) is read from the unstimulated
    control's same parent population, matched as in :class:`Threshold`;
    ``catalogue_id`` annotates the parent's ``pct_divided`` readout.
    """

    method: Literal["divided"]
    x: str
    generations: int = Field(7, ge=1, le=12)
    match: list[Literal["donor", "plate"]] = Field(default_factory=lambda: ["donor", "plate"])


class BooleanSpec(_Gate):
    """``and``/``or`` of two or more gates, or ``not`` of one; ``!Name`` uses a gate's complement."""

    method: Literal["boolean"]
    op: Literal["and", "or", "not"]
    of: list[str] = Field(min_length=1)


class RectangleSpec(_Gate):
    """Fixed bounds in data units; ``null`` is open."""

    method: Literal["rectangle"]
    x: str
    y: str | None = None
    x_range: tuple[float | None, float | None]
    y_range: tuple[float | None, float | None] | None = None


class PolygonSpec(_Gate):
    """Fixed polygon, vertices in data units."""

    method: Literal["polygon"]
    x: str
    y: str
    vertices: list[tuple[float, float]] = Field(min_length=3)


GateSpec = Annotated[
    ClusterGate | SingletsGate | ThresholdGate | QuadrantSpec | DividedGate | BooleanSpec | RectangleSpec
    | PolygonSpec,
    Field(discriminator="method"),
]


class TransformSpec(_Strict):
    """The scale gates are drawn on: ``logicle`` (Parks 2006) or ``asinh`` for fluorescence."""

    kind: Literal["logicle", "asinh", "linear"] = "logicle"
    W: float = 0.5
    M: float = 4.5
    A: float = 0.0
    cofactor: float = 150.0


class Transforms(_Strict):
    """Transform per channel type."""

    fluorescence: TransformSpec = Field(default_factory=TransformSpec)
    scatter: TransformSpec = Field(default_factory=lambda: TransformSpec(kind="linear"))


class Protocol(_Strict):
    """A gating protocol: metadata, transforms and the ordered gate list.

    Attributes
    ----------
    name
        Protocol id (``treg``).
    title
        One line for people.
    description
        What it gates and caveats.
    references
        Sources of the hierarchy (OMIPs, catalogue sections).
    include
        Built-in protocols whose gates come first (shared pre-gating).
    transforms
        The gating scale.
    gates
        The gates, parents before children.
    """

    name: str
    title: str = ""
    description: str = ""
    references: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    transforms: Transforms = Field(default_factory=Transforms)
    gates: list[GateSpec] = Field(default_factory=list)

    def population_names(self) -> list[str]:
        """Every population the gates define, in order."""
        names: list[str] = []
        for gate in self.gates:
            names += gate.names if isinstance(gate, QuadrantSpec) else [gate.name]
        return names

    def check_tree(self) -> None:
        """Check that names are unique and every parent/operand is defined before use.

        Raises
        ------
        ValueError
            Naming the first bad gate.
        """
        seen: set[str] = {ROOT}
        for gate in self.gates:
            if gate.parent not in seen:
                raise ValueError(f"gate {gate_label(gate)!r}: parent {gate.parent!r} is not defined before it")
            if isinstance(gate, BooleanSpec):
                for ref in gate.of:
                    if ref.lstrip("!") not in seen - {ROOT}:
                        raise ValueError(f"gate {gate.name!r}: operand {ref!r} is not defined before it")
                if gate.op == "not" and len(gate.of) != 1:
                    raise ValueError(f"gate {gate.name!r}: 'not' takes exactly one gate")
                if gate.op != "not" and len(gate.of) < 2:
                    raise ValueError(f"gate {gate.name!r}: '{gate.op}' takes at least two gates")
            names = gate.names if isinstance(gate, QuadrantSpec) else [gate.name]
            for name in names:
                if name in seen:
                    raise ValueError(f"gate name {name!r} is used twice")
                seen.add(name)


def gate_markers(gate: GateSpec) -> list[str]:
    """Return the marker (or channel) specs a gate reads, ``|``-alternatives kept together.

    Boolean gates read none (they depend on their operands).
    """
    if isinstance(gate, BooleanSpec):
        return []
    axes = [getattr(gate, "x", None), getattr(gate, "y", None)]
    return [a for a in axes if a]


def gate_label(gate: GateSpec) -> str:
    """A gate's label: its name, or a quadrant gate's populations joined by commas (``CD4,CD8``)."""
    return ",".join(gate.names) if isinstance(gate, QuadrantSpec) else gate.name

"""The gate tree: populations, their parents, and the transforms and matrices gates use.

A population is a gate applied inside its parent population. Its full path is
the chain of names from the root, ``/Lymphocytes/Singlets/CD3+``; top-level
populations have the parent ``root``. Each population also has an ``id``,
unique in the tree (the GatingML ``gating:id``; for FlowJo workspaces the name,
or the path where a name repeats), used for boolean references and as the
column name of per-event membership.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ...errors import MsclabError
from ..compensation import Spillover
from ..transforms import Ratio, Transform
from .gates import FCS, UNCOMPENSATED, BooleanGate, Dimension, Gate, QuadrantGate

ROOT = "root"


@dataclass(frozen=True)
class Population:
    """One gated population.

    Parameters
    ----------
    id
        Unique id in the tree.
    name
        The name shown in paths (defaults to ``id``).
    gate
        The gate shape, or a :class:`BooleanGate` over other populations.
    parent
        The parent population's id, or None for a top-level population.
    quadrant
        For a :class:`QuadrantGate`, the quadrant this population is.
    """

    id: str
    gate: Gate | BooleanGate
    parent: str | None = None
    name: str = ""
    quadrant: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.id)
        if isinstance(self.gate, QuadrantGate) and self.quadrant not in self.gate.quadrants:
            raise ValueError(f"population {self.id}: quadrant {self.quadrant!r} is not in its quadrant gate")

    @property
    def shape(self) -> Gate | BooleanGate:
        """The gate itself, or the rectangle equivalent of a quadrant."""
        if isinstance(self.gate, QuadrantGate):
            return self.gate.quadrant_gate(self.quadrant)
        return self.gate


@dataclass
class GateTree:
    """Populations plus the transforms and spillover matrices their dimensions name.

    Attributes
    ----------
    populations
        Population id -> :class:`Population`, parents before children.
    transforms
        Transform id -> transform (including :class:`Ratio` new dimensions).
    matrices
        Matrix id -> :class:`Spillover`.
    source
        Where the tree came from, for messages and provenance.
    """

    populations: dict[str, Population] = field(default_factory=dict)
    transforms: dict[str, Transform | Ratio] = field(default_factory=dict)
    matrices: dict[str, Spillover] = field(default_factory=dict)
    source: str = ""

    def add(self, population: Population) -> None:
        """Add a population; its id must be new."""
        if population.id in self.populations:
            raise MsclabError(f"gate id {population.id!r} is used twice", file=self.source or None,
                              hint="Give every gate a unique id.")
        self.populations[population.id] = population

    def __iter__(self) -> Iterator[Population]:
        return iter(self.populations.values())

    def __len__(self) -> int:
        return len(self.populations)

    def path(self, pop_id: str) -> str:
        """Return the full path of a population (``/A/B/C``)."""
        names = []
        current: str | None = pop_id
        seen = set()
        while current is not None:
            if current in seen:
                raise MsclabError(f"gate {pop_id!r} is its own ancestor", file=self.source or None,
                                  hint="Fix the parent references so they form a tree.")
            seen.add(current)
            pop = self.populations[current]
            names.append(pop.name)
            current = pop.parent
        return "/" + "/".join(reversed(names))

    def parent_path(self, pop_id: str) -> str:
        """Return the parent's full path, or ``root``."""
        parent = self.populations[pop_id].parent
        return ROOT if parent is None else self.path(parent)

    def order(self) -> list[str]:
        """Return population ids so that parents and boolean operands come first."""
        done: dict[str, None] = {}
        visiting: set[str] = set()
        for start in self.populations:
            # Iterative depth-first walk (a recursive one overflows on long parent chains).
            stack: list[tuple[str, bool]] = [(start, False)]
            while stack:
                pid, expanded = stack.pop()
                if pid in done:
                    continue
                if expanded:
                    visiting.discard(pid)
                    done[pid] = None
                    continue
                if pid in visiting:
                    raise MsclabError(f"gate {pid!r} depends on itself", file=self.source or None,
                                      hint="Remove the circular parent or boolean reference.")
                visiting.add(pid)
                stack.append((pid, True))
                stack.extend((dep, False) for dep in reversed(self.dependencies(pid)) if dep not in done)
        return list(done)

    def dependencies(self, pop_id: str) -> list[str]:
        """Return the parent and boolean operands of a population."""
        pop = self.populations[pop_id]
        deps = [pop.parent] if pop.parent is not None else []
        if isinstance(pop.gate, BooleanGate):
            deps += [ref for ref, _ in pop.gate.operands]
        return deps

    def dimensions(self) -> list[Dimension]:
        """Return every distinct dimension the gates read."""
        dims: dict[Dimension, None] = {}
        for pop in self:
            for dim in pop.shape.dimensions:
                dims[dim] = None
        return list(dims)

    def validate(self) -> None:
        """Check every reference (parents, operands, transforms, matrices); raise on the first bad one."""
        for pop in self:
            for dep in self.dependencies(pop.id):
                if dep not in self.populations:
                    raise MsclabError(f"gate {pop.id!r} refers to the unknown gate {dep!r}",
                                      file=self.source or None, hint="Define the referenced gate or fix the id.")
            for dim in pop.shape.dimensions:
                self._check_dimension(pop.id, dim)
        self.order()

    def _check_dimension(self, pop_id: str, dim: Dimension) -> None:
        if dim.transform is not None and dim.transform not in self.transforms:
            raise MsclabError(f"gate {pop_id!r} uses the undefined transformation {dim.transform!r}",
                              file=self.source or None, hint="Define it or remove the reference.")
        if dim.ratio and not isinstance(self.transforms.get(dim.name), Ratio):
            raise MsclabError(f"gate {pop_id!r} uses {dim.name!r} as a ratio dimension, but no such fratio is defined",
                              file=self.source or None)
        if dim.transform is not None and isinstance(self.transforms[dim.transform], Ratio):
            raise MsclabError(f"gate {pop_id!r} uses the ratio {dim.transform!r} as a scale transform",
                              file=self.source or None)
        if dim.compensation not in (UNCOMPENSATED, FCS) and dim.compensation not in self.matrices:
            raise MsclabError(f"gate {pop_id!r} uses the undefined compensation matrix {dim.compensation!r}",
                              file=self.source or None, hint="Define the spectrumMatrix or use 'FCS'/'uncompensated'.")

    def ids_by_path(self) -> Mapping[str, str]:
        """Return full path -> population id."""
        return {self.path(pid): pid for pid in self.populations}

"""Declarative cell phenotypes for the panels beyond the T-cell model.

A panel describes the biology it resolves with three kinds of rule:

- :class:`Subsets`: mutually exclusive states of one cell type (B-cell
  subsets, CD56bright/dim NK cells), each with its fraction of that cell type;
- :class:`Flag`: an independent yes/no trait of one cell type (CD107a
  degranulation, DC maturation, an ISCT marker on an MSC), with its fraction;
- :class:`Expression`: the true intensity of a marker on the events a
  selector picks (``"nk"``: a cell type; ``"b.plasmablast"``: a cell type in a
  state; ``"cdc+mature"``: a cell type carrying a flag). Rules apply in order,
  so a later rule overrides an earlier one for the events it picks.

Fractions are read by name from the culture's fractions (composition plus the
panel subsets of :mod:`msclab.simulate.subsets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Subsets:
    """Mutually exclusive states of one cell type.

    Attributes
    ----------
    cell_type
        The cell type split into states.
    states
        (state label, fraction key) pairs; fractions are of the cell type.
    rest
        State of the cells in none of the listed states.
    """

    cell_type: str
    states: tuple[tuple[str, str], ...]
    rest: str


@dataclass(frozen=True)
class Flag:
    """An independent yes/no trait of one cell type, present in ``fraction`` of its cells."""

    name: str
    cell_type: str
    fraction: str


@dataclass(frozen=True)
class Expression:
    """True intensity (lognormal median and sigma) of ``marker`` on the events ``select`` picks."""

    marker: str
    select: str
    median: float
    sigma: float = 0.35


def assign_subsets(rules: tuple[Subsets, ...], fractions: Mapping[str, float], cell_type: np.ndarray,
                   state: np.ndarray, rng: np.random.Generator) -> None:
    """Draw the state of every cell of each rule's cell type (``state`` is changed in place).

    Raises
    ------
    ValueError
        When a cell type's state fractions add up to more than 1.
    """
    for rule in rules:
        idx = np.flatnonzero(cell_type == rule.cell_type)
        probs = [fractions[key] for _, key in rule.states]
        if sum(probs) > 1:
            raise ValueError(f"{rule.cell_type} state fractions {probs} add up to more than 1")
        names = np.array([*(name for name, _ in rule.states), rule.rest], dtype=object)
        state[idx] = names[rng.choice(len(names), size=len(idx), p=[*probs, 1 - sum(probs)])]


def draw_flags(rules: tuple[Flag, ...], fractions: Mapping[str, float], cell_type: np.ndarray,
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return flag name -> per-event boolean (True on the flagged cells of its cell type)."""
    out = {}
    for rule in rules:
        of_type = cell_type == rule.cell_type
        out[rule.name] = of_type & (rng.uniform(size=len(cell_type)) < fractions[rule.fraction])
    return out


def selected(select: str, cell_type: np.ndarray, state: np.ndarray, flags: Mapping[str, np.ndarray]) -> np.ndarray:
    """Events a selector picks: ``type``, ``type.state`` or ``type+flag``."""
    if "+" in select:
        kind, flag = select.split("+", 1)
        return (cell_type == kind) & flags[flag]
    kind, _, name = select.partition(".")
    mask = cell_type == kind
    return mask & (state == name) if name else mask


def apply_expression(rules: tuple[Expression, ...], intensities: dict[str, np.ndarray], cell_type: np.ndarray,
                     state: np.ndarray, flags: Mapping[str, np.ndarray], rng: np.random.Generator) -> None:
    """Set the intensities the rules give, for the markers in ``intensities`` (changed in place)."""
    for rule in rules:
        if rule.marker not in intensities:
            continue
        idx = np.flatnonzero(selected(rule.select, cell_type, state, flags))
        intensities[rule.marker][idx] = rule.median * np.exp(rule.sigma * rng.standard_normal(len(idx)))

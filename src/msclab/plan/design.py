"""The design a power analysis explores: donors, MSC ratios, replicates, events, endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import MsclabError

#: Default MSC:PBMC ratios: those ``example_data`` measures.
DEFAULT_RATIOS = ("1:10", "1:50")
#: Default donor counts: the span MSC studies use (often 3-6, rarely above 12).
DEFAULT_DONORS = (3, 4, 5, 6, 7, 8, 10, 12)
#: Default events per tube: the example study's 4,000 and a typical 20,000.
DEFAULT_EVENTS = (4000, 20000)
RULES = ("estimate", "ci")


def parse_ratio(text: str) -> float:
    """Return MSC:PBMC ``"1:10"`` as the fraction 0.1.

    Raises
    ------
    MsclabError
        When ``text`` is not ``A:B`` with positive numbers.
    """
    a, sep, b = str(text).partition(":")
    try:
        value = float(a) / float(b)
    except (ValueError, ZeroDivisionError):
        value = float("nan")
    if not sep or not value > 0:
        raise MsclabError(f"MSC ratio {text!r} is not of the form MSC:PBMC such as 1:10",
                          hint="Write ratios like 1:10,1:50.")
    return value


@dataclass(frozen=True)
class PlanDesign:
    """What to vary and how hard to simulate.

    Attributes
    ----------
    donors
        Donor counts to evaluate (each >= 2: a paired CI needs two donors).
    ratios
        MSC:PBMC ratios (``"1:10"``); each is one contrast against PBMC alone.
    replicates
        Replicate cultures per donor and arm (averaged per donor, as ``analyze`` does).
    events
        Events acquired per tube.
    effects
        Catalogue ids to plan for; empty = every effect the sources know.
    n_sim
        Simulated experiments per design point.
    seed
        Random seed (the same seed gives the same table).
    rule
        Verdict rule of :func:`msclab.compare.verdicts.classify`.
    """

    donors: tuple[int, ...] = DEFAULT_DONORS
    ratios: tuple[str, ...] = DEFAULT_RATIOS
    replicates: int = 1
    events: tuple[int, ...] = DEFAULT_EVENTS
    effects: tuple[str, ...] = field(default_factory=tuple)
    n_sim: int = 1000
    seed: int = 0
    rule: str = "estimate"

    def __post_init__(self) -> None:
        if not self.donors or any(int(d) < 2 or int(d) > 200 for d in self.donors):
            raise MsclabError(f"donor counts {list(self.donors)} must each be between 2 and 200",
                              hint="A paired confidence interval needs at least 2 donors; e.g. --donors 3..12.")
        if not self.events or any(int(e) < 100 for e in self.events):
            raise MsclabError(f"events per tube {list(self.events)} must each be at least 100",
                              hint="e.g. --events 4000,20000.")
        if not 1 <= int(self.replicates) <= 20:
            raise MsclabError(f"replicates {self.replicates} must be between 1 and 20", hint="e.g. --replicates 2.")
        if not 10 <= int(self.n_sim) <= 1_000_000:
            raise MsclabError(f"n_sim {self.n_sim} must be between 10 and 1000000", hint="e.g. --n-sim 1000.")
        if self.rule not in RULES:
            raise MsclabError(f"verdict rule {self.rule!r} is not one of {', '.join(RULES)}",
                              hint="--rule estimate (default) or ci.")
        if not self.ratios:
            raise MsclabError("no MSC ratio given", hint="e.g. --ratios 1:10,1:50.")
        for r in self.ratios:
            parse_ratio(r)
        object.__setattr__(self, "donors", tuple(sorted({int(d) for d in self.donors})))
        object.__setattr__(self, "events", tuple(sorted({int(e) for e in self.events})))


def parse_range(text: str) -> tuple[int, ...]:
    """Parse ``"3..12"``, ``"3,4,6"`` or ``"3..12:3"`` (step) into integers.

    Raises
    ------
    MsclabError
        When ``text`` is not such a list or range.
    """
    values: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if ".." in part:
                lo, _, rest = part.partition("..")
                hi, _, step = rest.partition(":")
                values.extend(range(int(lo), int(hi) + 1, int(step) if step else 1))
            elif part:
                values.append(int(part))
    except ValueError:
        values = []
    if not values:
        raise MsclabError(f"{text!r} is not a list or range of whole numbers", hint="Write e.g. 3..12 or 3,4,6,8.")
    return tuple(values)

"""Find a channel by marker or channel name: the one lookup every flow step uses.

A gate names what it measures either as a marker (``CD3``; a protocol is
written for any instrument) or as a channel (``$PnN``, ``FL1-A``; a GatingML
or FlowJo gate is drawn on one instrument). :class:`ChannelIndex` answers
both for a sample (its ``$PnN`` and the panel's detector -> marker map) or
for a panel before any file is read (the detectors of its map), so the gate
plan, the batch planner, the resolver and the gating engine agree on which
channel a name means.

For each ``|``-separated alternative of a name, in turn:

1. a channel of exactly that name;
2. a channel whose marker is that name, compared by :func:`normalise_marker`
   (``IFN-γ``, ``IFNg`` and ``ifn-g`` are one marker); when two channels
   carry the marker, the first;
3. a channel whose name is that name compared the same way (FlowJo writes
   ``FL1/A`` as ``FL1_A``; ``fl1-a`` is ``FL1-A``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: Channel names every cytometer file has; a panel's marker list does not name them.
INSTRUMENT = ("FSC", "SSC", "TIME")


def normalise_marker(name: str) -> str:
    """Return a marker name reduced for matching: ``IFN-γ``, ``IFNg`` and ``ifn-g`` all give ``ifng``."""
    text = name.lower().replace("γ", "g").replace("α", "a").replace("gamma", "g").replace("alpha", "a")
    return re.sub(r"[^a-z0-9]", "", text)


class ChannelIndex:
    """Channels of a sample or panel, found by marker or channel name.

    Parameters
    ----------
    channels
        Channel names (``$PnN``) in file order; for a panel, its detectors.
    markers
        Channel -> marker (the panel's map, or the file's ``$PnS``); entries
        for channels not in ``channels`` are ignored.

    Examples
    --------
    >>> index = ChannelIndex(["FSC-A", "FL1-A", "FL2-A"], {"FL1-A": "CD3", "FL2-A": "IFN-γ"})
    >>> index.find("IFNg"), index.find("Viability|CD3"), index.find("fl2-a"), index.find("CD8")
    ('FL2-A', 'FL1-A', 'FL2-A', None)
    >>> index.marker_key("FL2-A")
    'ifng'
    """

    def __init__(self, channels: Iterable[str], markers: Mapping[str, str] | None = None) -> None:
        self.channels = [str(c) for c in channels]
        names = set(self.channels)
        self.markers = {str(c): str(m) for c, m in (markers or {}).items() if str(c) in names and m}
        self._exact = {c: c for c in self.channels}
        self._by_marker: dict[str, str] = {}
        self._by_channel: dict[str, str] = {}
        for channel in self.channels:
            if channel in self.markers:
                self._by_marker.setdefault(normalise_marker(self.markers[channel]), channel)
            self._by_channel.setdefault(normalise_marker(channel), channel)

    def find(self, spec: str) -> str | None:
        """Return the channel ``spec`` names (``"CD3"``, ``"Viability|L/D"``, ``"FL1-A"``), or None."""
        if spec in self._exact:
            return spec
        for option in spec.split("|"):
            option = option.strip()
            key = normalise_marker(option)
            found = self._exact.get(option) or self._by_marker.get(key) or self._by_channel.get(key)
            if found is not None:
                return found
        return None

    def marker_key(self, spec: str) -> str | None:
        """Return the :func:`normalise_marker` form of the marker of the channel ``spec`` names.

        None when no channel matches or the channel has no marker.
        """
        channel = self.find(spec)
        if channel is None or channel not in self.markers:
            return None
        return normalise_marker(self.markers[channel])

    def has(self, spec: str) -> bool:
        """Whether ``spec`` names a channel; scatter and time (``FSC-*``, ``SSC-*``, ``Time``) always count.

        Every file has scatter and time channels, so a panel described only
        by its markers has them too.
        """
        if self.find(spec) is not None:
            return True
        return any(option.strip().upper().startswith(INSTRUMENT) for option in spec.split("|"))

    @classmethod
    def of_panel(cls, markers: Mapping[str, str] | Iterable[str]) -> ChannelIndex:
        """Index a panel before any file is read: detector -> marker, or only marker names."""
        if not isinstance(markers, Mapping):
            markers = {str(m): str(m) for m in markers}
        return cls(list(markers), markers)

    def __repr__(self) -> str:
        return f"ChannelIndex({len(self.channels)} channels, {len(self.markers)} markers)"

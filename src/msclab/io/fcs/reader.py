"""Opening an FCS file: data sets, metadata, and the events as AnnData."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ...errors import FCSError
from ._channels import channel_frame, int_keyword, parse_channels
from ._data import mask_to_range, read_values, scale_values, to_float32
from ._header import HEADER_SIZE, Header, parse_header
from ._layout import Layout, event_layout, locate_data
from ._text import merge_supplemental, parse_keywords, whole_number
from .spillover import spillover_from_metadata

if TYPE_CHECKING:  # anndata takes about a second to import; reading events for gating does not need it
    import anndata as ad

#: Keywords the experiment validator and ``fcs info`` want without reading DATA.
IDENTITY_KEYWORDS = ("$FIL", "$SRC", "$WELLID", "$LOCATIONID", "$CARRIERID", "$CARRIERTYPE", "$CYT", "$DATE",
                     "$BTIM", "$ETIM")
_MAX_DATA_SETS = 1000


@dataclass(frozen=True)
class DataSet:
    """One data set of a file (LMD files chain several with ``$NEXTDATA``).

    Attributes
    ----------
    index
        Position in the file, from 0.
    header
        Its HEADER.
    keywords
        Its TEXT (and supplemental TEXT) keywords, upper-cased.
    leniencies
        What was accepted while reading its HEADER and TEXT.
    """

    index: int
    header: Header
    keywords: dict[str, str]
    leniencies: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        """FCS version of this data set."""
        return self.header.version

    def summary(self) -> dict[str, object]:
        """Index, version, events and channels, for listings."""
        return {"index": self.index, "version": self.version,
                "n_events": whole_number(self.keywords.get("$TOT")),
                "n_channels": whole_number(self.keywords.get("$PAR"))}


class FCSFile:
    """An FCS file opened for its metadata; events are decoded on request.

    Use :func:`open_fcs` to create one. Opening reads only the HEADER and
    TEXT segments of every data set and checks where the DATA segment of the
    chosen one is, so it is fast and refuses unusable files early.

    Attributes
    ----------
    path : Path
    data_sets : list of DataSet
        Every data set in the file.
    dataset : int
        Index of the data set this object describes.
    keywords : dict of str to str
        Its TEXT keywords (upper-cased, ``$`` kept; values as written).
    channels : list of Channel
    n_events : int
    leniencies : list of str
        Every departure from the FCS standard that was accepted, and every
        decision taken, in plain sentences.
    """

    def __init__(self, path: Path, data_sets: list[DataSet], dataset: int, file_size: int,
                 leniencies: list[str]) -> None:
        chosen = data_sets[dataset]
        self.path = path
        self.data_sets = data_sets
        self.dataset = dataset
        self.keywords = chosen.keywords
        self.leniencies = leniencies
        self.channels = parse_channels(chosen.keywords, chosen.version, path, leniencies)
        self._layout: Layout = event_layout(self.channels, chosen.keywords, path, leniencies)
        n_events = int_keyword(chosen.keywords, "$TOT", path) if "$TOT" in chosen.keywords else None
        self._start, self.n_events = locate_data(chosen.header, chosen.keywords, n_events, self._layout,
                                                 file_size, path, leniencies)
        self.timestep = self._timestep()
        self.spillover = self._spillover()
        self._note_ignored_gains()

    @property
    def version(self) -> str:
        """FCS version of the chosen data set."""
        return self.data_sets[self.dataset].version

    @property
    def var(self) -> pd.DataFrame:
        """The channel table (index: unique ``$PnN``)."""
        return channel_frame(self.channels)

    def read_raw(self) -> np.ndarray:
        """The stored values, events x channels, integers masked to ``$PnR``.

        Returns
        -------
        numpy.ndarray
            Unsigned integers or floats in native byte order, as stored.
        """
        with open(self.path, "rb", buffering=0) as handle:
            try:
                values = read_values(handle, self._start, self.n_events, self._layout)
            except EOFError as exc:
                raise FCSError(str(exc), file=self.path, where=f"byte {self._start}",
                               hint="The file changed or was truncated while reading; copy it again.") from None
        mask_to_range(values, self.channels, self.leniencies)
        return values

    def time_channels(self) -> list[str]:
        """The channels that count time: typed ``time`` by ``$PnTYPE`` or name, else by their values.

        When no channel is named as time, a channel other than scatter whose
        stored values never decrease over all events (and are not constant) is
        a clock: fluorescence is never sorted over a list-mode acquisition,
        whose events are written in the order they were detected (FCS 3.1
        section 3.3.2, list mode).

        Returns
        -------
        list[str]
            Channel names (``var`` index).
        """
        named = [c.name for c in self.channels if c.kind == "time"]
        if named or self.n_events < 3:
            return named
        raw = self.read_raw()
        found = []
        for j, channel in enumerate(self.channels):
            if channel.kind == "scatter":
                continue
            column = raw[:, j].astype(np.float64)
            if np.all(np.diff(column) >= 0) and column[-1] > column[0]:
                found.append(channel.name)
        return found

    def read_events(self, scale: bool = True) -> np.ndarray:
        """The events as float32, events x channels.

        Parameters
        ----------
        scale
            Apply ``$PnE`` log scaling, ``$PnG`` gain and ``$TIMESTEP``
            (the "scale values" GatingML gates refer to). ``False`` gives the
            stored values as float32.
        """
        raw = self.read_raw()
        if not scale:
            return to_float32(raw)
        return scale_values(raw, self.channels, self.timestep)

    def to_anndata(self, scale: bool = True) -> ad.AnnData:
        """The events as AnnData: obs = events, var = channels, ``uns['fcs']`` = metadata.

        See :func:`read_fcs`.
        """
        import anndata as ad

        X = self.read_events(scale=scale)
        obs = pd.DataFrame(index=pd.RangeIndex(X.shape[0]).astype(str))
        adata = ad.AnnData(X=X, obs=obs, var=self.var)
        adata.uns["fcs"] = self.metadata(scaled=scale)
        return adata

    def metadata(self, scaled: bool = True) -> dict[str, object]:
        """The ``uns['fcs']`` entry: version, path, events, keywords, leniencies, spillover, data sets.

        Everything is a string, number, list, ``None`` or (``data_sets``) a
        small DataFrame, so the AnnData can be written to ``.h5ad``.
        """
        spill = None
        if self.spillover is not None:
            matrix, keyword = self.spillover
            spill = {"keyword": keyword, "detectors": [str(c) for c in matrix.columns],
                     "matrix": matrix.to_numpy().tolist()}
        return {
            "version": self.version,
            "path": str(self.path),
            "n_events": self.n_events,
            "n_channels": len(self.channels),
            "dataset": self.dataset,
            "data_sets": pd.DataFrame([ds.summary() for ds in self.data_sets]).astype(
                {"n_events": "Int64", "n_channels": "Int64"}),
            "scaled": scaled,
            "timestep": self.timestep,
            "keywords": dict(self.keywords),
            "leniencies": list(self.leniencies),
            "spillover": spill,
        }

    def _timestep(self) -> float:
        """``$TIMESTEP`` as a number; 1 when absent, empty or not a number (recorded)."""
        text = self.keywords.get("$TIMESTEP")
        if text is None or not any(c.kind == "time" for c in self.channels):
            return 1.0
        try:
            value = float(text.strip())
        except ValueError:
            self.leniencies.append(f"$TIMESTEP is {text!r}, not a number; time left in its stored units")
            return 1.0
        if not np.isfinite(value) or value <= 0:
            self.leniencies.append(f"$TIMESTEP is {text!r}; time left in its stored units")
            return 1.0
        return value

    def _spillover(self) -> tuple[pd.DataFrame, str] | None:
        try:
            found = spillover_from_metadata(self.keywords)
        except FCSError as exc:
            self.leniencies.append(f"spillover keyword ignored: {exc}")
            return None
        if found is not None:
            others = [k for k in ("$SPILLOVER", "SPILL", "$SPILL", "DET_SPILL") if k in self.keywords and k != found[1]]
            note = f"spillover matrix taken from {found[1]}"
            self.leniencies.append(note + (f" ({', '.join(others)} also present, not used)" if others else ""))
        return found

    def _note_ignored_gains(self) -> None:
        for c in self.channels:
            if c.gain == 0.0:
                self.leniencies.append(f"$P{c.number}G ({c.name}) is 0; read as no gain")
            elif c.gain != 1.0 and c.kind == "time":
                self.leniencies.append(f"$P{c.number}G ({c.name}) = {c.gain:g} not applied to the time channel "
                                       "($TIMESTEP gives its unit)")
            elif c.gain != 1.0 and c.log_decades > 0:
                self.leniencies.append(f"$P{c.number}G ({c.name}) = {c.gain:g} not applied to a log-amplified "
                                       "channel (FCS 3.1: $PnG is for linear amplification)")
            if c.log_decades > 0 and c.datatype != "I":
                self.leniencies.append(f"$P{c.number}E ({c.name}) asks for log scaling of {c.datatype} data, which "
                                       "FCS 3.1 does not allow; values left as stored")


def open_fcs(path: str | PathLike[str], *, dataset: int | None = None) -> FCSFile:
    """Open an FCS file and read its metadata, without decoding events.

    Parameters
    ----------
    path
        An FCS 2.0, 3.0, 3.1 or 3.2 file (any extension: ``.fcs``, ``.lmd``,
        ``.001``...).
    dataset
        Which data set of a multi-data-set file (LMD) to describe, from 0.
        Default: the first FCS 3.x data set, else the first.

    Returns
    -------
    FCSFile

    Raises
    ------
    FCSError
        When the file is not a readable FCS file; the message names the byte
        or keyword at fault and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FCSError("file not found", file=path, hint="Check the path and the file name.")
    file_size = path.stat().st_size
    with open(path, "rb") as handle:
        data_sets, notes = _read_data_sets(handle, file_size, path)
    index = _choose(data_sets, dataset, path)
    leniencies = notes + list(data_sets[index].leniencies)
    if len(data_sets) > 1:
        versions = ", ".join(f"{ds.index}: FCS {ds.version}" for ds in data_sets)
        leniencies.insert(0, f"the file holds {len(data_sets)} data sets ({versions}); data set {index} was read "
                             "(choose another with dataset= or --dataset)")
    return FCSFile(path, data_sets, index, file_size, leniencies)


def read_fcs(path: str | PathLike[str], *, dataset: int | None = None, scale: bool = True,
             var_names: Literal["detector", "marker"] = "detector") -> ad.AnnData:
    """Read the events of an FCS file into AnnData.

    Parameters
    ----------
    path
        An FCS 2.0, 3.0, 3.1 or 3.2 file.
    dataset
        Data set of a multi-data-set file (LMD), from 0; default the first
        FCS 3.x one.
    scale
        ``True`` (default): X holds scale values (``$PnE`` log scaling,
        ``$PnG`` gain, ``$TIMESTEP``), the values GatingML gates apply to.
        ``False``: X holds the stored values (integers masked to ``$PnR``).
    var_names
        ``"detector"`` (default): ``var_names`` are the ``$PnN`` detectors.
        ``"marker"``: the marker (``var['marker']``) where the channel has one,
        else the detector, made unique, so that
        ``sc.pl.scatter(adata, x="CD4", y="CD8")`` works; ``var['pnn']``
        keeps the detector.

    Returns
    -------
    anndata.AnnData
        ``obs``: events (index ``"0"``, ``"1"``...). ``var``: channels, index
        the unique ``$PnN``, columns ``pnn, pns, marker, range, bits, gain,
        log_decades, log_offset, type``. ``X``: float32. ``uns['fcs']``:
        ``version, path, n_events, n_channels, dataset, data_sets, scaled,
        timestep, keywords, leniencies, spillover`` (``{keyword, detectors,
        matrix}`` or ``None``).

    Raises
    ------
    FCSError
        When the file cannot be read as it is (never a partly wrong array).
    """
    if var_names not in ("detector", "marker"):
        raise FCSError(f"var_names={var_names!r} is not allowed", file=path, hint="Use 'detector' or 'marker'.")
    adata = open_fcs(path, dataset=dataset).to_anndata(scale=scale)
    if var_names == "marker":
        names = [str(m) if isinstance(m, str) and m else str(d) for d, m in zip(adata.var["pnn"], adata.var["marker"],
                                                                               strict=True)]
        adata.var_names = names
        adata.var_names_make_unique()
    return adata


def _read_data_sets(handle, file_size: int, path: Path) -> tuple[list[DataSet], list[str]]:
    """Every data set, following ``$NEXTDATA`` (offset from the current data set, FCS 3.1 section 3.2.18)."""
    data_sets: list[DataSet] = []
    notes: list[str] = []
    origin = 0
    while True:
        try:
            data_sets.append(_read_data_set(handle, len(data_sets), origin, file_size, path))
        except FCSError as exc:
            if not data_sets:
                raise
            notes.append(f"data set {len(data_sets)} at byte {origin} could not be read and was skipped: {exc}")
            return data_sets, notes
        text = data_sets[-1].keywords.get("$NEXTDATA", "0").strip() or "0"
        step = whole_number(text)
        if step is None:
            notes.append(f"$NEXTDATA is {text!r}, not a byte offset; no further data sets read")
        if not step:
            return data_sets, notes
        if origin + step + HEADER_SIZE > file_size or len(data_sets) >= _MAX_DATA_SETS:
            notes.append(f"$NEXTDATA points to byte {origin + step}, beyond the file; no further data sets read")
            return data_sets, notes
        origin += step


def _read_data_set(handle, index: int, origin: int, file_size: int, path: Path) -> DataSet:
    handle.seek(origin)
    header = parse_header(handle.read(HEADER_SIZE), origin, path)
    if header.text_end >= file_size:
        raise FCSError(f"the HEADER puts TEXT at bytes {header.text_start}-{header.text_end}, beyond the end of "
                       f"the file ({file_size} bytes)", file=path, where=f"byte {origin + 10}",
                       hint="The file is truncated or damaged; copy or re-export it.")
    leniencies: list[str] = []
    handle.seek(header.text_start)
    keywords = parse_keywords(handle.read(header.text_end - header.text_start + 1), path=path,
                              offset=header.text_start, label="TEXT", leniencies=leniencies)
    supplemental = _supplemental_range(keywords, header, file_size, leniencies)
    if supplemental is not None:
        start, end = supplemental
        handle.seek(start)
        raw = handle.read(end - start + 1)
        binary = _binary_content(raw)
        if binary:
            leniencies.append(f"the supplemental TEXT (bytes {start}-{end}) holds {binary}, not keyword/value text "
                              "(FCS 3.1 section 3.2.3); supplemental TEXT ignored")
        else:
            extra = parse_keywords(raw, path=path, offset=start, label="supplemental TEXT", leniencies=leniencies)
            keywords = merge_supplemental(keywords, extra, leniencies)
    return DataSet(index, header, keywords, leniencies)


#: Leading bytes of binary formats instruments store in the supplemental TEXT.
_MAGIC = ((b"PK\x03\x04", "a ZIP archive"), (b"PK\x05\x06", "an empty ZIP archive"), (b"\x1f\x8b", "gzip data"))


def _binary_content(raw: bytes) -> str:
    """What binary content a TEXT region holds (``""`` when it is text).

    Some instruments (Sysmex/Partec CyFlow) store a ZIP archive of their
    settings in the region ``$BEGINSTEXT``/``$ENDSTEXT`` name. Text holds no
    NUL and few other control bytes besides the delimiter and line breaks.
    """
    for magic, name in _MAGIC:
        if raw.startswith(magic):
            return name
    if not raw:
        return ""
    delimiter = raw[:1]
    control = sum(1 for b in raw if (b < 32 and b not in (9, 10, 13)) and bytes([b]) != delimiter)
    if b"\x00" in raw or control > len(raw) // 100:
        return "binary data"
    return ""


def _supplemental_range(keywords: dict[str, str], header: Header, file_size: int,
                        leniencies: list[str]) -> tuple[int, int] | None:
    """Absolute bytes of the supplemental TEXT, if any and distinct from the primary TEXT."""
    begin = keywords.get("$BEGINSTEXT", "0").strip()
    end = keywords.get("$ENDSTEXT", "0").strip()
    first, last = whole_number(begin), whole_number(end)
    if first is None or last is None or first == 0 or last <= first:
        return None
    start, stop = header.origin + first, header.origin + last
    if (start, stop) == (header.text_start, header.text_end):
        return None
    if stop >= file_size:
        leniencies.append(f"$BEGINSTEXT/$ENDSTEXT ({begin}-{end}) point beyond the file; supplemental TEXT ignored")
        return None
    return start, stop


def _choose(data_sets: list[DataSet], dataset: int | None, path: Path) -> int:
    if dataset is None:
        return next((ds.index for ds in data_sets if ds.version.startswith("3")), 0)
    if not 0 <= dataset < len(data_sets):
        raise FCSError(f"data set {dataset} requested, but the file holds {len(data_sets)} "
                       f"(numbered 0-{len(data_sets) - 1})", file=path,
                       hint="Run `msclab fcs info` on the file to list its data sets.")
    return dataset

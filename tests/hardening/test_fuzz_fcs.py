"""Property-based fuzzing of the FCS reader (``read_fcs`` / ``open_fcs``) from real files.

Every mutated file must give a correct read or an :class:`~msclab.errors.FCSError`
naming the file, within :data:`READ_SECONDS`, and (keyword mutations) without
allocating more than a small multiple of the file's size: a declared ``$TOT``
or ``$PAR`` is never trusted before it is checked against the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import hardening_support as hs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msclab.errors import FCSError
from msclab.io.fcs import open_fcs, read_fcs

pytestmark = [pytest.mark.timeout(120), pytest.mark.shared_data]

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
FUZZ_LONG = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))

#: Values a hostile or broken file puts in a keyword.
HOSTILE_VALUES = ("", " ", "0", "-1", "1", "7", "3.5", "1e3", "NaN", "nan", "inf", "-inf", "abc", "1,2",
                  "4,3,2,1", "3,4,1,2", "1,2,3", "I", "F", "D", "A", "24", "64", "65", "10000",
                  str(10**12), str(2**63), "9" * 40, "\u0663", "1\x00", "0,0", "4,0", "-4,1", "2,-1", "nan,1")
#: Huge counts.
HUGE_COUNTS = (str(10**9), str(10**12), str(10**18), "9" * 30)
#: Keywords worth attacking, plus per-channel ones (n = 1).
KEYS = ("$PAR", "$TOT", "$DATATYPE", "$BYTEORD", "$BEGINDATA", "$ENDDATA", "$NEXTDATA", "$TIMESTEP",
        "$BEGINSTEXT", "$ENDSTEXT", "$SPILLOVER", "SPILL", "$MODE", "$P1N", "$P1B", "$P1R", "$P1E", "$P1G",
        "$P1DATATYPE", "$P1TYPE", "$P2B", "$P2R", "$P2E")


def _parts(path: Path) -> tuple[bytes, dict[str, tuple[int, int]], dict[str, str], bytes, str]:
    """A seed's bytes, its HEADER/TEXT/DATA byte ranges, keywords, DATA bytes and version."""
    raw = path.read_bytes()
    fcs = open_fcs(path)
    header = fcs.data_sets[fcs.dataset].header
    start = fcs._start  # noqa: SLF001 - the located DATA segment, to aim mutations at it
    size = fcs.n_events * sum(fcs._layout.widths)  # noqa: SLF001
    regions = {"header": (0, 58), "text": (header.text_start, header.text_end + 1), "data": (start, start + size)}
    return raw, regions, dict(fcs.keywords), raw[start:start + size], fcs.version


class _Seeds(list):
    """The seeds, shown by file name in Hypothesis' reports (not by their bytes)."""

    def __repr__(self) -> str:
        return f"<seeds: {', '.join(seed[0].name for seed in self)}>"


@pytest.fixture(scope="module")
def seeds(example_fcs: Path, shared_fcs_seeds: list[Path]) -> list[tuple]:
    """(path, bytes, regions, keywords, data, version) for every seed."""
    return _Seeds((p, *_parts(p)) for p in [example_fcs, *shared_fcs_seeds])


def test_every_seed_reads(seeds):
    assert len(seeds) == 1 + len(hs.SHARED_FCS_SEEDS)


#: A byte-level mutation: (operation, region, position in the region as a fraction, payload).
byte_mutations = st.one_of(
    st.tuples(st.just("empty"), st.just("file"), st.just(0.0), st.just(b"")),
    st.tuples(st.just("truncate"), st.just("file"), st.floats(0, 1, exclude_max=True), st.just(b"")),
    st.tuples(st.just("offset"), st.sampled_from(("text_start", "text_end", "data_start", "data_end",
                                                  "analysis_start", "analysis_end")), st.just(0.0),
              st.sampled_from((b"       0", b"        ", b"99999999", b"-0000001", b"  abcdef", b"00000058",
                               b"\xb3\xb3\xb3\xb3\xb3\xb3\xb3\xb3", b"end", b"end+1"))),
    st.tuples(st.sampled_from(("flip", "cut", "insert")), st.sampled_from(("header", "text", "data")),
              st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
)
_OFFSET_FIELDS = ("text_start", "text_end", "data_start", "data_end", "analysis_start", "analysis_end")


def apply_bytes(raw: bytes, regions: dict[str, tuple[int, int]], mutation: tuple) -> bytes:
    """Apply one :data:`byte_mutations` draw to a seed."""
    op, region, where, payload = mutation
    if op == "empty":
        return b""
    if op == "truncate":
        return raw[:int(where * len(raw))]
    if op == "offset":
        at = 10 + 8 * _OFFSET_FIELDS.index(region)
        value = {b"end": f"{len(raw):>8}".encode(), b"end+1": f"{len(raw) + 1:>8}".encode()}.get(payload, payload)
        return raw[:at] + value + raw[at + 8:]
    lo, hi = regions[region]
    at = lo + int(where * (hi - lo))
    if op == "flip":
        return raw[:at] + payload + raw[at + len(payload):]
    if op == "cut":
        return raw[:at] + raw[at + len(payload) * 8:]
    return raw[:at] + payload + raw[at:]


#: A keyword-level mutation: (edits, delimiter, DATA bytes cut from the end, DATA offsets in the HEADER).
keyword_mutations = st.tuples(
    st.lists(st.one_of(
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just("")),
        st.tuples(st.just("delete_nth"), st.integers(0, 200), st.just("")),
        st.tuples(st.just("set"), st.sampled_from(KEYS), st.sampled_from(HOSTILE_VALUES) | st.text(max_size=12)),
        st.tuples(st.just("set"), st.sampled_from(KEYS), st.sampled_from(HUGE_COUNTS)),
    ), min_size=1, max_size=3),
    st.sampled_from(("/", "|", "\\", "\t", "\x0c", ",", "$", "1")),
    st.sampled_from((0, 0, 1, 7, 0.5)),
    st.booleans(),
)


def apply_keywords(keywords: dict[str, str], data: bytes, version: str, mutation: tuple) -> bytes:
    """Rebuild a seed from its keywords and DATA with one :data:`keyword_mutations` draw applied."""
    edits, delimiter, cut, header_data = mutation
    kw = dict(keywords)
    for op, key, value in edits:
        if op == "delete":
            kw.pop(key, None)
        elif op == "delete_nth":
            kw.pop(sorted(kw)[key % len(kw)], None) if kw else None
        else:
            kw[key] = value
    body = data[:len(data) - (int(cut * len(data)) if isinstance(cut, float) else cut)]
    return hs.build_fcs(kw, body, version=version, delimiter=delimiter, header_data=header_data)


def _read(path: Path) -> None:
    adata = read_fcs(path)
    assert adata.X.dtype == np.float32
    assert adata.n_obs == adata.uns["fcs"]["n_events"] and adata.n_vars == adata.uns["fcs"]["n_channels"]


@given(data=st.data())
@FUZZ
def test_byte_mutations_read_or_refuse(seeds, tmp_path_factory, data):
    path, raw, regions, *_ = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    mutated = apply_bytes(raw, regions, data.draw(byte_mutations, label="mutation"))
    target = tmp_path_factory.mktemp("fcs") / path.name
    target.write_bytes(mutated)
    hs.check_outcome(lambda: _read(target), target)


@given(data=st.data())
@FUZZ
def test_keyword_mutations_read_or_refuse_without_allocating(seeds, tmp_path_factory, data):
    path, raw, _, keywords, events, version = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    mutated = apply_keywords(keywords, events, version, data.draw(keyword_mutations, label="mutation"))
    target = tmp_path_factory.mktemp("fcs") / path.name
    target.write_bytes(mutated)
    tracemalloc.start()
    try:
        hs.check_outcome(lambda: _read(target), target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # float32 X + raw copy + AnnData/pandas overhead: a few times the file; never what $TOT x $PAR claims
    assert peak < 64 * 2**20 + 12 * len(mutated), f"peak {peak / 2**20:.0f} MiB for a {len(mutated)} byte file"


@pytest.mark.slow
@given(data=st.data())
@FUZZ_LONG
def test_byte_and_keyword_mutations_long_run(seeds, tmp_path_factory, data):
    path, raw, regions, keywords, events, version = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    if data.draw(st.booleans(), label="bytes"):
        mutated = apply_bytes(raw, regions, data.draw(byte_mutations, label="mutation"))
    else:
        mutated = apply_keywords(keywords, events, version, data.draw(keyword_mutations, label="mutation"))
    target = tmp_path_factory.mktemp("fcs") / path.name
    target.write_bytes(mutated)
    hs.check_outcome(lambda: _read(target), target)


@pytest.mark.parametrize("content", [b"", b"FCS3.1", b"FCS3.1" + b" " * 52, b"\x00" * 100, b"FCS9.9" + b"0" * 60,
                                     b"<?xml version='1.0'?><gating:Gating-ML/>", b"sample_id,file\nA,b.fcs\n"],
                         ids=["empty", "version_only", "blank_header", "zeros", "bad_version", "xml", "csv"])
def test_non_fcs_content_is_refused(tmp_path, content):
    target = tmp_path / "x.fcs"
    target.write_bytes(content)
    with pytest.raises(FCSError, match="x.fcs"):
        read_fcs(target)


def test_a_folder_or_missing_file_is_refused(tmp_path):
    with pytest.raises(FCSError, match="file not found"):
        read_fcs(tmp_path / "nope.fcs")
    with pytest.raises(FCSError):
        read_fcs(tmp_path)


def test_builder_writes_a_file_the_reader_reads(tmp_path):
    target = tmp_path / "ok.fcs"
    for delimiter in ("/", "|", "\t"):
        target.write_bytes(hs.build_fcs(hs.SIMPLE_KEYWORDS, hs.SIMPLE_DATA, delimiter=delimiter))
        assert read_fcs(target).X.tolist() == [[0, 1], [2, 3], [4, 5]]


_MEMORY_PROBE = textwrap.dedent("""
    import resource, sys
    from msclab.errors import FCSError
    from msclab.io.fcs import read_fcs
    read_fcs(sys.argv[2])  # warm up: imports and first-call allocations happen before the limit
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + 256 * 2**20, vm + 256 * 2**20))
    try:
        read_fcs(sys.argv[1])
    except FCSError as exc:
        print("refused:", exc)
        sys.exit(0)
    except MemoryError:
        print("MemoryError")
        sys.exit(1)
    print("read")
    sys.exit(2)
""")


def _run_memory_probe(tmp_path: Path, keywords: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    hostile, ok = tmp_path / "hostile.fcs", tmp_path / "ok.fcs"
    hostile.write_bytes(hs.build_fcs(keywords, hs.SIMPLE_DATA))
    ok.write_bytes(hs.build_fcs(hs.SIMPLE_KEYWORDS, hs.SIMPLE_DATA))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(hostile), str(ok)], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("tot", [str(10**12), str(2**64), "9" * 40])
def test_huge_tot_is_refused_without_allocating(tmp_path, tot):
    """A declared $TOT of 10^12 is checked against the file before any allocation (256 MiB address-space cap)."""
    proc = _run_memory_probe(tmp_path, {**hs.SIMPLE_KEYWORDS, "$TOT": tot}, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hostile.fcs" in proc.stdout and "$TOT" in proc.stdout


@pytest.mark.parametrize("par", [str(10**7), str(10**12), "9" * 18])
def test_huge_par_is_refused_quickly(tmp_path, par):
    """Finding FCS-2: $PAR = 10^12 was looped over before it was checked (minutes, then MemoryError)."""
    try:
        proc = _run_memory_probe(tmp_path, {**hs.SIMPLE_KEYWORDS, "$PAR": par}, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"$PAR = {par} was not refused within 15 s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hostile.fcs, keyword $PAR" in proc.stdout and "needs its own $PnN and $PnB" in proc.stdout


def test_par_above_what_the_text_holds_is_refused(tmp_path):
    target = tmp_path / "par.fcs"
    target.write_bytes(hs.build_fcs({**hs.SIMPLE_KEYWORDS, "$PAR": "9"}, hs.SIMPLE_DATA))
    with pytest.raises(FCSError, match=r"par.fcs, keyword \$PAR: \$PAR declares 9 channels, but the TEXT holds only "
                                       r"16 keywords"):
        read_fcs(target)


@pytest.mark.parametrize("key, value", [("$PAR", "\u00b9"), ("$TOT", "\u00b3"), ("$P1B", "3\u00b2"),
                                        ("$TOT", "\u0663"), ("$TOT", "9" * 5000)])
def test_non_ascii_or_endless_digits_are_refused_with_fcs_error(tmp_path, key, value):
    """Finding FCS-1: isdigit() accepted superscript digits that int() refuses (ValueError)."""
    target = tmp_path / "digits.fcs"
    target.write_bytes(hs.build_fcs({**hs.SIMPLE_KEYWORDS, key: value}, hs.SIMPLE_DATA))
    with pytest.raises(FCSError, match=rf"digits.fcs, keyword \{key}: .*not a whole number"):
        read_fcs(target)


def test_non_ascii_digits_in_begindata_are_refused(tmp_path):
    raw = hs.build_fcs(hs.SIMPLE_KEYWORDS, hs.SIMPLE_DATA, header_data=False)
    begin = raw.index(b"/$BEGINDATA/") + len(b"/$BEGINDATA/")
    end = raw.index(b"/", begin)
    target = tmp_path / "digits.fcs"
    target.write_bytes(raw[:begin] + "\u00b9".encode().ljust(end - begin) + raw[end:])  # same length: "¹ "
    with pytest.raises(FCSError, match=r"digits.fcs, keyword \$BEGINDATA: .*not byte offsets"):
        read_fcs(target)


@pytest.mark.parametrize("key", ["$NEXTDATA", "$BEGINSTEXT", "$SPILLOVER"])
def test_non_ascii_digits_in_optional_keywords_are_noted(tmp_path, key):
    """Finding FCS-1 in keywords the reader can do without: the file is read and the keyword's problem noted."""
    target = tmp_path / "digits.fcs"
    target.write_bytes(hs.build_fcs({**hs.SIMPLE_KEYWORDS, key: "\u00b9", "$ENDSTEXT": "\u00b9"}, hs.SIMPLE_DATA))
    adata = read_fcs(target)
    assert adata.X.tolist() == [[0, 1], [2, 3], [4, 5]]
    if key != "$BEGINSTEXT":
        assert any(key in note for note in adata.uns["fcs"]["leniencies"])


def test_many_beckman_spillover_detectors_are_ignored_without_allocating(tmp_path):
    """New finding: 20,000 $DFCmTOn pairs (a 400 kB TEXT) made a dense 40,000 x 40,000 matrix (MemoryError)."""
    pairs = {f"$DFC{2 * i + 1}TO{2 * i + 2}": "1.5" for i in range(20_000)}
    target = tmp_path / "dfc.fcs"
    target.write_bytes(hs.build_fcs({**hs.SIMPLE_KEYWORDS, **pairs}, hs.SIMPLE_DATA))
    assert hs.check_outcome(lambda: _read(target), target, tolerate_known=False) == "read"
    fcs = read_fcs(target).uns["fcs"]
    assert fcs["spillover"] is None
    assert any("40000 detectors, more than the 1000" in note for note in fcs["leniencies"])


def test_blank_header_data_end_is_read_from_the_text(tmp_path):
    """Finding FCS-3: a HEADER with a DATA start but a blank DATA end gave TypeError."""
    raw = hs.build_fcs(hs.SIMPLE_KEYWORDS, hs.SIMPLE_DATA)
    target = tmp_path / "blank_end.fcs"
    target.write_bytes(raw[:34] + b" " * 8 + raw[42:])  # HEADER bytes 34-41: last byte of DATA
    adata = read_fcs(target)
    assert adata.X.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert any("only one of the DATA offsets" in note for note in adata.uns["fcs"]["leniencies"])

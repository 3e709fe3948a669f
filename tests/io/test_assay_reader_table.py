"""The assay-reader table: every entry recognises and reads its own real exports, and nothing else's.

Real files: ``../shared/data/assay_exports`` (one folder per vendor, sources in its
SOURCES.md) and the plate-grid ELISA exports of ``example_data/elisa``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from msclab.errors import AssayFileError
from msclab.io.assay import READERS, detect_format, reader

pytestmark = pytest.mark.shared_data

#: Reader name -> where its real files are (shared-data folder, or example_data glob).
REAL_FILES = {
    "softmax_pro": ("shared", "softmax_pro"),
    "xponent": ("shared", "luminex_xponent"),
    "gen5": ("shared", "gen5"),
    "bmg_mars": ("shared", "bmg_mars"),
    "tecan_magellan": ("shared", "tecan_magellan"),
    "bioplex": ("shared", "bioplex_manager"),
    "grid": ("example", "elisa/*_plate1.csv"),
}


def _files(name: str, shared_data: Path, repo_root: Path) -> list[Path]:
    where, part = REAL_FILES[name]
    if where == "shared":
        return sorted(p for p in (shared_data / "assay_exports" / part).iterdir() if p.is_file())
    return sorted(repo_root.glob(f"example_data/{part}"))


def test_every_reader_has_real_files():
    assert set(REAL_FILES) == {e.name for e in READERS}


@pytest.mark.parametrize("entry", READERS, ids=lambda e: e.name)
def test_reader_opens_and_reads_its_own_files_only(entry, shared_data, repo_root):
    files = _files(entry.name, shared_data, repo_root)
    assert files, f"no real files for reader {entry.name}"
    for path in files:
        assert entry.can_open(path), path
        assert detect_format(path) == entry.name, path
        others = [e.name for e in READERS if e is not entry and e.can_open(path)]
        # a plate grid may sit inside another vendor's export; only the grid reader may also claim the file
        assert set(others) <= {"grid"}, (path, others)
        table = entry.read(path).table
        assert len(table) > 0 and table["signal"].notna().any(), path


def test_names_and_aliases_are_unique_and_resolve():
    spellings = [s for e in READERS for s in (e.name, *e.aliases)]
    assert len(spellings) == len(set(spellings))
    for entry in READERS:
        for spelling in (entry.name, *entry.aliases, entry.name.upper()):
            assert reader(spelling) is entry
    with pytest.raises(AssayFileError, match="unknown format 'elisa'") as error:
        reader("elisa")
    assert all(e.name in error.value.hint for e in READERS)


def test_repr_is_one_line():
    assert repr(reader("gen5")) == "Reader('gen5', aliases=())"

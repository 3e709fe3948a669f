"""One spelling of a well: the readers and the samplesheet agree on what is a well."""

from __future__ import annotations

import pytest

from msclab.experiment import PLATE_FORMATS
from msclab.experiment import normalise_well as experiment_normalise_well
from msclab.experiment.plate import find_well
from msclab.io.wells import normalise_well, parse_well, well_sort_key


@pytest.mark.parametrize(("text", "well"), [
    ("B3", "B3"), ("b03", "B3"), (" B 3 ", "B3"), ("p24", "P24"), ("A001", "A1"),
    ("Q3", None), ("A25", None), ("A0", None), ("AA1", None), ("blank", None), ("", None), (None, None),
])
def test_normalise_well(text, well):
    assert normalise_well(text) == well
    assert parse_well(text) == (None if well is None else ("ABCDEFGHIJKLMNOP".index(well[0]), int(well[1:])))


def test_the_samplesheet_and_the_readers_use_the_same_function():
    # "Q3" used to be "Q3" for the samplesheet and None for the readers
    assert experiment_normalise_well is normalise_well
    assert experiment_normalise_well("Q3") is None


@pytest.mark.parametrize(("well", "on96", "on384"), [("H12", True, True), ("h012", True, True), ("I1", False, True),
                                                     ("A13", False, True), ("P24", False, True), ("Q3", False, False)])
def test_plate_contains(well, on96, on384):
    assert PLATE_FORMATS[96].contains(well) is on96
    assert PLATE_FORMATS[384].contains(well) is on384


def test_found_wells_are_normalised_wells():
    for name in ("plate2_B07.fcs", "x-p24-y", "A1"):
        found = find_well(name)
        assert found == normalise_well(found)
    assert sorted(["B1", "A12", "A2"], key=well_sort_key) == ["A2", "A12", "B1"]

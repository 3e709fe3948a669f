"""Plate-reader exports: Gen5, SoftMax Pro, Tecan Magellan, BMG MARS and generic grids."""

from msclab.io.plate_reader.bmg import read_bmg
from msclab.io.plate_reader.gen5 import read_gen5
from msclab.io.plate_reader.grid import read_grid
from msclab.io.plate_reader.softmax import read_softmax
from msclab.io.plate_reader.tecan import read_tecan

__all__ = ["read_bmg", "read_gen5", "read_grid", "read_softmax", "read_tecan"]

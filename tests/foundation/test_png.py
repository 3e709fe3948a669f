"""``msclab._png`` writes PNG files that Pillow reads back pixel for pixel."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from msclab._png import encode_png, write_png


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (4, "RGBA")])
def test_pillow_reads_back_every_pixel(channels: int, mode: str):
    rng = np.random.default_rng(3)
    flat = np.full((61, 47, channels), 255, dtype=np.uint8)  # flat colour with noisy blocks, as a plot
    flat[10:30, 5:40] = rng.integers(0, 256, size=(20, 35, channels), dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(flat)))
    assert image.mode == mode and image.size == (47, 61)
    np.testing.assert_array_equal(np.asarray(image), flat)


def test_same_pixels_same_bytes_and_a_file(tmp_path):
    pixels = np.zeros((5, 7, 3), dtype=np.uint8)
    pixels[2, 3] = (200, 10, 30)
    write_png(tmp_path / "a.png", pixels)
    with open(tmp_path / "b.png", "wb") as handle:
        write_png(handle, pixels)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes() == encode_png(pixels.copy())
    Image.open(tmp_path / "a.png").verify()  # chunk CRCs and structure


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((4, 4, 3), np.float32)])
def test_refuses_what_is_not_an_rgb_image(bad):
    with pytest.raises(ValueError, match="height x width x 3 or 4"):
        encode_png(bad)

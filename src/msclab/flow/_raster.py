"""A small raster canvas for gate plots: axes boxes, density images, lines, polygons and text (Pillow).

Drawing a gate plot with matplotlib artists costs about a second per sample
(most of it in tick and text objects); the same picture painted directly into
an RGB image takes a few tens of milliseconds. The content of an axes box
(density image, histogram bars, gate shapes) is painted at twice the final
size and reduced with a box filter, so lines are anti-aliased; text is drawn
at final size with the DejaVu Sans font that matplotlib ships. The output
depends only on the input values (no clock, no randomness), so the same
sample gives the same bytes in any process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .._png import write_png

#: Oversampling of the axes content (lines are anti-aliased by reducing it).
_SCALE = 2
_TICK_MAJOR, _TICK_MINOR = 4, 2


@lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size`` pixels (the font file shipped with matplotlib)."""
    from pathlib import Path

    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


@lru_cache(maxsize=4)
def colour_table(name: str) -> np.ndarray:
    """A matplotlib colour map as a 256 x 3 uint8 table."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def log_density_rgb(counts: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Counts (rows = y from the top, columns = x) to RGB on a log colour scale from 1 to the maximum; empty bins white."""
    rgb = np.full((*counts.shape, 3), 255, dtype=np.uint8)
    filled = counts > 0
    if filled.any():
        top = float(counts.max())
        level = np.log(counts[filled]) / np.log(top) if top > 1 else np.zeros(int(filled.sum()))
        rgb[filled] = colour_table(cmap)[np.clip((level * 256).astype(int), 0, 255)]
    return rgb


@lru_cache(maxsize=1024)
def _label(text: str, size: int, anchor: str, vertical: bool) -> tuple[Image.Image, tuple[int, int]]:
    """The coverage mask of a text and its offset from the anchor point (rendered once: tick labels repeat)."""
    left, top, right, bottom = font(size).getbbox(text, anchor=anchor)
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=font(size), fill=255, anchor=anchor)
    if not vertical:
        return mask, (left, top)
    mask = mask.rotate(90, expand=True)
    return mask, (-(mask.width // 2), -(mask.height // 2))


class Panel:
    """One axes box of a canvas: data coordinates ``xlim`` x ``ylim`` mapped onto ``box`` (left, top, width, height)."""

    def __init__(self, box: tuple[int, int, int, int], xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.box = box
        self.xlim, self.ylim = xlim, ylim
        width, height = box[2], box[3]
        self.content = Image.new("RGB", (width * _SCALE, height * _SCALE), "white")
        self._draw = ImageDraw.Draw(self.content, "RGBA")

    def to_content(self, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        """Data coordinates to pixels of the (oversampled) content image."""
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        width, height = self.content.size
        px = (np.asarray(x, dtype=float) - x0) / (x1 - x0) * width
        py = (1.0 - (np.asarray(y, dtype=float) - y0) / (y1 - y0)) * height
        return list(zip(px.tolist(), py.tolist(), strict=True))

    def image(self, rgb: np.ndarray) -> None:
        """Fill the box with an RGB image (first row at the top), each pixel a rectangle."""
        self.content.paste(Image.fromarray(rgb).resize(self.content.size, Image.Resampling.NEAREST))

    def fill(self, x: Sequence[float], y: Sequence[float], colour: tuple[int, ...]) -> None:
        """A filled polygon (RGBA colour, blended)."""
        self._draw.polygon(self.to_content(np.asarray(x), np.asarray(y)), fill=colour)

    def bars(self, edges: np.ndarray, heights: np.ndarray, colour: tuple[int, ...]) -> None:
        """Histogram bars from 0 (RGBA colour, blended, one polygon so they do not overlap)."""
        x = np.repeat(edges, 2)
        y = np.concatenate([[0.0], np.repeat(heights, 2), [0.0]])
        self.fill(x, y, colour)

    def line(self, x: Sequence[float], y: Sequence[float], colour: str, width: float, *, closed: bool = False) -> None:
        """A polyline in data coordinates (``width`` in output pixels)."""
        points = self.to_content(np.asarray(x), np.asarray(y))
        if closed:
            points.append(points[0])
        self._draw.line(points, fill=colour, width=max(1, round(width * _SCALE)), joint="curve")

    def paint(self, canvas: Canvas) -> None:
        """Reduce the content to the box size, paste it on ``canvas`` and draw the frame."""
        left, top, width, height = self.box
        canvas.image.paste(self.content.resize((width, height), Image.Resampling.BOX), (left, top))
        canvas.draw.rectangle((left - 1, top - 1, left + width, top + height), outline="black", width=1)

    def x_pixel(self, x: float) -> float:
        left, _, width, _ = self.box
        return left + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * width

    def y_pixel(self, y: float) -> float:
        _, top, _, height = self.box
        return top + (1.0 - (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])) * height


class Canvas:
    """A white RGB image with text, tick and axes helpers."""

    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy: tuple[float, float], text: str, size: int, *, anchor: str = "mm", colour: str = "black",
             vertical: bool = False) -> None:
        """Text at ``xy`` (a Pillow anchor, at the nearest pixel; ``vertical`` turns it 90 degrees, centred on ``xy``)."""
        mask, (dx, dy) = _label(text, size, "mm" if vertical else anchor, vertical)
        self.image.paste(colour, (round(xy[0]) + dx, round(xy[1]) + dy), mask)

    def text_box(self, xy: tuple[int, int], lines: Sequence[str], size: int, colour: str) -> None:
        """Lines of text on a translucent white box whose top-left corner is ``xy``."""
        text = "\n".join(lines)
        left, top, right, bottom = self.draw.multiline_textbbox(xy, text, font=font(size), spacing=2)
        box = (left - 2, top - 2, right + 2, bottom + 2)
        region = self.image.crop(box)
        self.image.paste(Image.blend(region, Image.new("RGB", region.size, "white"), 0.7), box[:2])
        self.draw.multiline_text(xy, text, font=font(size), fill=colour, spacing=2)

    def x_ticks(self, panel: Panel, major: Sequence[tuple[float, str]], minor: Sequence[float], size: int) -> None:
        """Ticks and labels under the box of ``panel``."""
        left, top, width, height = panel.box
        bottom = top + height
        for value in minor:
            px = round(panel.x_pixel(value))
            self.draw.line((px, bottom, px, bottom + _TICK_MINOR), fill="black")
        for value, label in major:
            px = round(panel.x_pixel(value))
            self.draw.line((px, bottom, px, bottom + _TICK_MAJOR), fill="black")
            self.text((px, bottom + _TICK_MAJOR + 2), label, size, anchor="mt")

    def y_ticks(self, panel: Panel, major: Sequence[tuple[float, str]], minor: Sequence[float], size: int) -> int:
        """Ticks and labels left of the box of ``panel``; returns the widest label's width in pixels."""
        left = panel.box[0] - 1
        widest = 0
        for value in minor:
            py = round(panel.y_pixel(value))
            self.draw.line((left - _TICK_MINOR, py, left, py), fill="black")
        for value, label in major:
            py = round(panel.y_pixel(value))
            self.draw.line((left - _TICK_MAJOR, py, left, py), fill="black")
            self.text((left - _TICK_MAJOR - 2, py), label, size, anchor="rm")
            widest = max(widest, round(font(size).getlength(label)))
        return widest

    def save_png(self, path) -> None:
        """Write the image as PNG (:func:`msclab._png.write_png`: no time stamp or other varying metadata)."""
        write_png(path, np.asarray(self.image))

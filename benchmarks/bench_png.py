"""PNG encoding of gate plots: msclab's writer (``msclab._png``) against Pillow's encoder, in one run.

Paints the gate plots of one panel of a simulated study (``msclab simulate``
into a temporary folder, default design; the ``treg`` panel: one plot per sample,
1224 x 864 pixels) and encodes each image, taking turns round by round so a
load from other processes falls on both alike:

- ``Image.save(format="PNG")``: Pillow's encoder (adaptive row filters, deflate level 6);
- ``msclab._png.encode_png``: no row filter, deflate level :data:`msclab._png.LEVEL`.

Prints the best time per image of each, the ratio, the mean file sizes, and
checks that Pillow reads msclab's files back pixel for pixel.

Run: ``python benchmarks/bench_png.py [--repeat R] [--panel treg]``. Not a timed test.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from msclab._png import LEVEL, encode_png


def painted_plots(folder: Path, panel: str) -> list[np.ndarray]:
    """The gate plots of ``panel`` of a fresh simulated study, as RGB arrays."""
    from msclab.experiment import read_experiment
    from msclab.flow.panel import quantify_panel
    from msclab.simulate import simulate_study

    simulate_study(folder / "study")
    quantify_panel(read_experiment(folder / "study" / "experiment.yaml"), panel, plots_dir=folder / "plots")
    return [np.asarray(Image.open(path).convert("RGB")) for path in sorted((folder / "plots").glob("*.png"))]


def pillow(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--panel", default="treg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images = painted_plots(Path(tmp), args.panel)
    print(f"{len(images)} gate plots of {images[0].shape[1]} x {images[0].shape[0]} pixels")
    coders = {"Pillow": pillow, f"msclab (level {LEVEL})": encode_png}
    best = dict.fromkeys(coders, np.inf)
    sizes = {}
    for _ in range(args.repeat):
        for name, encode in coders.items():
            start = time.perf_counter()
            sizes[name] = [len(encode(image)) for image in images]
            best[name] = min(best[name], (time.perf_counter() - start) / len(images))
    for name in coders:
        print(f"{name:20s} {1000 * best[name]:6.1f} ms per image  {np.mean(sizes[name]) / 1000:6.1f} kB")
    ours = list(coders)[1]
    print(f"Pillow / msclab: {best['Pillow'] / best[ours]:.2f}x faster, "
          f"{np.mean(sizes[ours]) / np.mean(sizes['Pillow']):.2f}x the bytes")
    for image in images:
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(image)))), image)
    print("Pillow reads every msclab file back pixel for pixel")


if __name__ == "__main__":
    main()

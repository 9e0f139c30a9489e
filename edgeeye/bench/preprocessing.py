"""What turning a captured frame into the model's input costs, per frame, by method.

Measured for 640x480, 1280x720 and 1920x1080 frames going to the model's input size, in
alternating rounds (medians), on one core as a worker runs it:

- ``sampled``: the 4-neighbour bilinear sample edgeeye used before (aliases beyond 2x);
- ``edgeeye``: what the workers do now (``resize_for_model``: Pillow's antialiased
  bilinear after an integer box reduce, beyond 2x);
- ``pillow_full``: Pillow's antialiased bilinear without the reduce (the test reference);
- ``opencv_area``: OpenCV's ``INTER_AREA`` with one thread, when OpenCV is installed: the
  other well-kept candidate, measured so the choice stays checked.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from edgeeye.inference.preprocess import resize_bilinear, resize_for_model

FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080))
Resize = Callable[[np.ndarray, int, int], np.ndarray]


def _pillow_full(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    picture = Image.fromarray(image, "RGB")
    return np.asarray(picture.resize((out_w, out_h), Image.Resampling.BILINEAR))


def methods() -> dict[str, Resize]:
    found: dict[str, Resize] = {
        "sampled": resize_bilinear,
        "edgeeye": resize_for_model,
        "pillow_full": _pillow_full,
    }
    try:
        import cv2
    except ImportError:
        return found
    cv2.setNumThreads(1)

    def opencv_area(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
        resized: np.ndarray = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)
        return resized

    found["opencv_area"] = opencv_area
    return found


def _frame(width: int, height: int) -> np.ndarray:
    """A frame with detail at every scale (aliasing and cache behaviour as in a photo)."""
    y, x = np.mgrid[0:height, 0:width]
    rings = np.sin(np.hypot(x - width / 2, y - height / 2) / 3.0) * 127 + 128
    return np.ascontiguousarray(np.dstack([rings, x % 256, y % 256]).astype(np.uint8))


def measure(
    input_size: tuple[int, int],
    rounds: int = 5,
    calls: int = 20,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """{"WxH": {method: median ms per frame}} for every frame size."""
    out_h, out_w = input_size
    chosen = methods()
    report: dict[str, Any] = {"input": f"{out_w}x{out_h}", "rounds": rounds, "sizes": {}}
    for width, height in FRAME_SIZES:
        frame = _frame(width, height)
        samples: dict[str, list[float]] = {name: [] for name in chosen}
        for _ in range(rounds):
            for name, resize in chosen.items():
                resize(frame, out_h, out_w)  # warm: work buffers, caches
                started = time.perf_counter()
                for _ in range(calls):
                    resize(frame, out_h, out_w)
                samples[name].append((time.perf_counter() - started) * 1000 / calls)
        row = {name: round(statistics.median(values), 3) for name, values in samples.items()}
        report["sizes"][f"{width}x{height}"] = row
        progress(f"  {width}x{height}: " + ", ".join(f"{k} {v} ms" for k, v in row.items()))
    return report

"""A decoded picture as a viewer shows it, as 8-bit RGB: the images source's last step.

- EXIF orientation applied, so a phone photograph taken upright is upright (a viewer
  rotates it; the pixels in the file lie on their side).
- 16-bit grey images (PNG, TIFF) scaled to 8 bits, not clipped: a 16-bit value of 40000
  is 156, not 255 (Pillow already opens 16-bit RGB PNGs as 8-bit RGB, scaled).
- Palette, grey, grey with alpha, RGBA and CMYK converted by Pillow; alpha is dropped,
  since a model is trained on the colours alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image as PILImage

#: Pillow's modes for one channel of more than 8 bits per pixel.
_WIDE_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def upright(image: PILImage.Image) -> PILImage.Image:
    """``image`` turned as its EXIF orientation says (itself when it says nothing)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image)


def rgb_pixels(image: PILImage.Image) -> np.ndarray:
    """(height, width, 3) uint8 RGB of ``image``, whatever its mode and depth."""
    if image.mode in _WIDE_GREY:
        wide = np.asarray(image, dtype=np.uint32)  # mode "I" is int32; 16-bit values fit
        grey = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "F":  # 32-bit float grey (TIFF): its own range, scaled to 0-255
        values = np.asarray(image, dtype=np.float32)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        grey = np.nan_to_num(scaled).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))

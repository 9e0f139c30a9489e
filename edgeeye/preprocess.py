"""Frame in any ring layout -> RGB uint8 at the model's input size.

Runs in the workers, never in capture: capture copies raw camera bytes once and the
conversion cost is spread over the inference processes.  Resizing is a plain bilinear
sample (no antialiasing) that reads only the 4 neighbours of each output pixel, so its
cost depends on the model's size, not the frame's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edgeeye.frames import PixelFormat

_PIXEL = np.dtype((np.void, 3))


@lru_cache(maxsize=16)
def _sample_plan(in_h: int, in_w: int, out_h: int, out_w: int) -> tuple[np.ndarray, ...]:
    """Flat neighbour indices and 8-bit fixed-point weights for a bilinear resize.

    Cached per frame size: building it costs more than using it.
    """

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centres = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        centres = np.clip(centres, 0, n_in - 1)
        low = np.floor(centres).astype(np.intp)
        high = np.minimum(low + 1, n_in - 1)
        weight = np.round((centres - low) * 256).astype(np.uint16)
        return low, high, weight

    y0, y1, wy = axis(in_h, out_h)
    x0, x1, wx = axis(in_w, out_w)
    corners = [(ys[:, None] * in_w + xs[None, :]).ravel() for ys in (y0, y1) for xs in (x0, x1)]
    # Weights are spelled out per byte: broadcasting inside the hot loop costs more than memory.
    weight_x = np.repeat(np.broadcast_to(wx[None, :], (out_h, out_w)).reshape(-1), 3)
    weight_y = np.repeat(np.broadcast_to(wy[:, None], (out_h, out_w)).reshape(-1), 3)
    weight_y = weight_y.astype(np.uint32)
    return (*corners, weight_x, 256 - weight_x, weight_y, 256 - weight_y)


def resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize an H x W x 3 uint8 image; returns ``image`` itself when no resize is needed."""
    in_h, in_w = image.shape[:2]
    if (in_h, in_w) == (out_h, out_w):
        return image
    i00, i01, i10, i11, wx, wx_rest, wy, wy_rest = _sample_plan(in_h, in_w, out_h, out_w)
    # Gathering whole 3-byte pixels from a flat view is the cheapest numpy gather there is.
    pixels = np.ascontiguousarray(image).view(_PIXEL).reshape(-1)

    def gather(index: np.ndarray) -> np.ndarray:
        return pixels.take(index).view(np.uint8).astype(np.uint16)

    top = gather(i00) * wx_rest  # <= 255 * 256: fits uint16
    top += gather(i01) * wx
    bottom = gather(i10) * wx_rest
    bottom += gather(i11) * wx
    out = top * wy_rest
    out += bottom * wy
    out += 32768
    out >>= 16
    return out.astype(np.uint8).reshape(out_h, out_w, 3)


def yuv420_to_rgb(planar: np.ndarray, height: int, width: int) -> np.ndarray:
    """I420 (Y plane then quarter-size U and V planes) to RGB, BT.601 limited range."""
    flat = planar.reshape(-1)
    y_size = height * width
    c_size = y_size // 4
    y = flat[:y_size].reshape(height, width).astype(np.float32)
    u = flat[y_size : y_size + c_size].reshape(height // 2, width // 2).astype(np.float32)
    v = flat[y_size + c_size : y_size + 2 * c_size].reshape(height // 2, width // 2)
    v = v.astype(np.float32)
    u = np.repeat(np.repeat(u - 128.0, 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(v - 128.0, 2, axis=0), 2, axis=1)
    y = (y - 16.0) * 1.164
    rgb = np.empty((height, width, 3), dtype=np.float32)
    rgb[..., 0] = y + 1.596 * v
    rgb[..., 1] = y - 0.392 * u - 0.813 * v
    rgb[..., 2] = y + 2.017 * u
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def to_model_rgb(
    frame: np.ndarray, pixel_format: PixelFormat, height: int, width: int, size: tuple[int, int]
) -> np.ndarray:
    """A frame view (see ``frames.frame_view``) as an RGB uint8 array of ``size`` (h, w)."""
    out_h, out_w = size
    if pixel_format is PixelFormat.YUV420:
        return resize_bilinear(yuv420_to_rgb(frame, height, width), out_h, out_w)
    resized = resize_bilinear(frame, out_h, out_w)
    if pixel_format is PixelFormat.BGR888:
        resized = resized[..., ::-1]
    # Always hand back memory we own: the slot goes back to capture right after this.
    return np.ascontiguousarray(resized) if resized is not frame else resized.copy()

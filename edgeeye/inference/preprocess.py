"""Frame in any ring layout -> RGB uint8 at the model's input size.

Runs in the workers, never in capture: capture copies raw camera bytes once and the
conversion cost is spread over the inference processes.

Resizing follows the pictures a model's authors trained it on.  Downscaling by more than
``ANTIALIAS_ABOVE`` uses Pillow's antialiased bilinear filter (every source pixel under
the output pixel counts; the reference pipelines of TensorFlow's and Coral's examples do
the same), after an integer box ``reduce`` down to ``REDUCING_GAP`` times the output size
to keep its cost in check.  A plain 4-neighbour bilinear sample, which reads about one
pixel in 40 of a 1080p frame going to 224x224, would alias there; at smaller scales it is
as good and cheaper, so it stays for those.  ``edgeeye bench`` reports both costs.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from edgeeye.sources.frame import PixelFormat

#: Downscales by more than this (on either axis) are antialiased.
ANTIALIAS_ABOVE = 2.0
#: Pillow reduces by an integer box first while the rest is still this many times the
#: output size: it halves the cost at 1080p and changes scores by well under 0.01.
REDUCING_GAP = 2.0

_PIXEL = np.dtype((np.void, 3))
_workspaces = threading.local()


class _Resizer:
    """A bilinear resize from one frame size to another, with its own work buffers.

    Indices and weights are computed once per size pair; the per-frame work is four gathers
    and 16-bit arithmetic into buffers allocated once, because fresh temporaries of this size
    cost page faults on every frame.  Rounding happens after each of the two passes (8-bit
    fixed-point weights), so results are within one level of exact bilinear.
    """

    def __init__(self, in_h: int, in_w: int, out_h: int, out_w: int) -> None:
        def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            centres = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
            centres = np.clip(centres, 0, n_in - 1)
            low = np.floor(centres).astype(np.intp)
            high = np.minimum(low + 1, n_in - 1)
            return low, high, np.round((centres - low) * 256).astype(np.uint16)

        y0, y1, wy = axis(in_h, out_h)
        x0, x1, wx = axis(in_w, out_w)
        self.corners = [
            (ys[:, None] * in_w + xs[None, :]).ravel() for ys in (y0, y1) for xs in (x0, x1)
        ]
        # Weights spelled out per byte: broadcasting in the hot loop costs more than memory.
        self.wx = np.repeat(np.broadcast_to(wx[None, :], (out_h, out_w)).reshape(-1), 3)
        self.wy = np.repeat(np.broadcast_to(wy[:, None], (out_h, out_w)).reshape(-1), 3)
        self.wx_rest, self.wy_rest = 256 - self.wx, 256 - self.wy
        count = out_h * out_w
        self.shape = (out_h, out_w, 3)
        self._pixels = np.empty(count, _PIXEL)
        self._top = np.empty(count * 3, np.uint16)
        self._bottom = np.empty(count * 3, np.uint16)
        self._scratch = np.empty(count * 3, np.uint16)

    def _blend(self, image: np.ndarray, first: int, into: np.ndarray) -> None:
        """``into`` = horizontal blend of two corner gathers, rounded to 8 bits."""
        for corner, weight in ((first, self.wx_rest), (first + 1, self.wx)):
            image.take(self.corners[corner], out=self._pixels, mode="clip")
            target = into if corner == first else self._scratch
            np.copyto(target, self._pixels.view(np.uint8))
            target *= weight  # <= 255 * 256: fits 16 bits
        into += self._scratch
        into += 128
        into >>= 8

    def __call__(self, image: np.ndarray) -> np.ndarray:
        pixels = np.ascontiguousarray(image).view(_PIXEL).reshape(-1)
        self._blend(pixels, 0, self._top)
        self._blend(pixels, 2, self._bottom)
        self._top *= self.wy_rest
        self._bottom *= self.wy
        self._top += self._bottom
        self._top += 128
        self._top >>= 8
        return self._top.astype(np.uint8).reshape(self.shape)


def _resizer(in_h: int, in_w: int, out_h: int, out_w: int) -> _Resizer:
    """This thread's resizer for a size pair (the thread-pool baseline resizes in parallel)."""
    cache: dict[tuple[int, int, int, int], _Resizer] | None = getattr(_workspaces, "resizers", None)
    if cache is None:
        cache = _workspaces.resizers = {}
    key = (in_h, in_w, out_h, out_w)
    if key not in cache:
        if len(cache) >= 8:
            cache.clear()
        cache[key] = _Resizer(*key)
    return cache[key]


def resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """4-neighbour bilinear resize of an H x W x 3 uint8 image (``image`` if same size)."""
    in_h, in_w = image.shape[:2]
    if (in_h, in_w) == (out_h, out_w):
        return image
    return _resizer(in_h, in_w, out_h, out_w)(image)


def resize_antialiased(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Pillow's antialiased bilinear resize (box-reduced first), H x W x 3 uint8."""
    picture = Image.fromarray(np.ascontiguousarray(image), "RGB")
    resized = picture.resize((out_w, out_h), Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
    return np.asarray(resized)


def resize_for_model(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The resize a model's input gets: antialiased when shrinking by more than 2x."""
    in_h, in_w = image.shape[:2]
    if max(in_h / out_h, in_w / out_w) > ANTIALIAS_ABOVE:
        return resize_antialiased(image, out_h, out_w)
    return resize_bilinear(image, out_h, out_w)


#: (luma offset, luma gain, V->R, U->G, V->G, U->B) per YUV layout: the camera's colour space.
_YUV_MATRICES = {
    PixelFormat.YUV420: (16.0, 255 / 219, 1.596, 0.392, 0.813, 2.017),  # BT.601 limited
    PixelFormat.YUV420_BT709: (16.0, 255 / 219, 1.793, 0.213, 0.533, 2.112),  # BT.709 limited
    PixelFormat.YUV420_FULL: (0.0, 1.0, 1.402, 0.344, 0.714, 1.772),  # BT.601 full (sYCC)
}


def yuv420_to_rgb(
    planar: np.ndarray, height: int, width: int, matrix: PixelFormat = PixelFormat.YUV420
) -> np.ndarray:
    """I420 (Y plane then quarter-size U and V planes) to RGB with ``matrix``'s coefficients."""
    y, u, v = _planes(planar, height, width)
    return _planes_to_rgb(y, u, v, matrix)


def _planes(planar: np.ndarray, height: int, width: int) -> tuple[np.ndarray, ...]:
    """The Y, U and V planes of an I420 frame, as 2-D views."""
    flat = planar.reshape(-1)
    y_size = height * width
    c_size = y_size // 4
    y = flat[:y_size].reshape(height, width)
    u = flat[y_size : y_size + c_size].reshape(height // 2, width // 2)
    v = flat[y_size + c_size : y_size + 2 * c_size].reshape(height // 2, width // 2)
    return y, u, v


def _planes_to_rgb(
    y_plane: np.ndarray, u_plane: np.ndarray, v_plane: np.ndarray, matrix: PixelFormat
) -> np.ndarray:
    offset, gain, v_r, u_g, v_g, u_b = _YUV_MATRICES[matrix]
    y = y_plane.astype(np.float32)
    u = np.repeat(np.repeat(u_plane.astype(np.float32) - 128.0, 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(v_plane.astype(np.float32) - 128.0, 2, axis=0), 2, axis=1)
    y = (y - offset) * gain
    rgb = np.empty((*y.shape, 3), dtype=np.float32)
    rgb[..., 0] = y + v_r * v
    rgb[..., 1] = y - u_g * u - v_g * v
    rgb[..., 2] = y + u_b * u
    clipped: np.ndarray = np.clip(rgb + 0.5, 0, 255)
    return clipped.astype(np.uint8)


def pixel_box(
    box: tuple[float, float, float, float], height: int, width: int, even: bool = False
) -> tuple[int, int, int, int]:
    """``box`` (fractions: x_min, y_min, x_max, y_max) as pixel bounds ``(x0, y0, x1, y1)``
    covering it, at least one pixel (two, on even bounds for a YUV420 frame) each way."""
    step = 2 if even else 1
    x0 = min(max(0, int(np.floor(box[0] * width))), width - step) // step * step
    y0 = min(max(0, int(np.floor(box[1] * height))), height - step) // step * step
    x1 = max(x0 + step, min(width, -(-int(np.ceil(box[2] * width)) // step) * step))
    y1 = max(y0 + step, min(height, -(-int(np.ceil(box[3] * height)) // step) * step))
    return x0, y0, x1, y1


def crop_rgb(
    frame: np.ndarray,
    pixel_format: PixelFormat,
    height: int,
    width: int,
    box: tuple[float, float, float, float],
) -> np.ndarray:
    """The part of a frame view that ``box`` covers, as RGB (a view of it where it can be)."""
    if pixel_format.is_yuv:
        x0, y0, x1, y1 = pixel_box(box, height, width, even=True)
        y, u, v = _planes(frame, height, width)
        half = (slice(y0 // 2, y1 // 2), slice(x0 // 2, x1 // 2))
        return _planes_to_rgb(y[y0:y1, x0:x1], u[half], v[half], pixel_format)
    x0, y0, x1, y1 = pixel_box(box, height, width)
    part = frame.reshape(height, width, 3)[y0:y1, x0:x1]
    return part[..., ::-1] if pixel_format is PixelFormat.BGR888 else part


def crop_to_model_rgb(
    frame: np.ndarray,
    pixel_format: PixelFormat,
    height: int,
    width: int,
    box: tuple[float, float, float, float],
    size: tuple[int, int],
) -> np.ndarray:
    """``crop_rgb`` resized to ``size`` (h, w) with Pillow's antialiased bilinear filter
    (boxes differ in size every frame: no per-size tables), in memory of its own."""
    part = crop_rgb(frame, pixel_format, height, width, box)
    return resize_antialiased(part, *size).copy()


def to_model_rgb(
    frame: np.ndarray, pixel_format: PixelFormat, height: int, width: int, size: tuple[int, int]
) -> np.ndarray:
    """A frame view (``pipeline.frames.frame_view``) as RGB uint8 of ``size`` (h, w)."""
    out_h, out_w = size
    if pixel_format.is_yuv:
        return resize_for_model(yuv420_to_rgb(frame, height, width, pixel_format), out_h, out_w)
    resized = resize_for_model(frame, out_h, out_w)
    if pixel_format is PixelFormat.BGR888:
        resized = resized[..., ::-1]
    # Always hand back memory we own: the slot goes back to capture right after this.
    return np.ascontiguousarray(resized) if resized is not frame else resized.copy()

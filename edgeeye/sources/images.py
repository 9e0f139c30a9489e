"""Still images (a file, a folder or a glob), looped or read once in name order.

What a file can hold is not trusted.  Two limits, applied from the header (``Image.open``
reads only that) before any pixel is decoded:

- ``MAX_IMAGE_PIXELS`` (40 megapixels): a file whose header claims more is never decoded.
  It is a bad frame: skipped, counted in ``frames_skipped``, named once in the log.  So is
  anything Pillow calls a decompression bomb (its warning is made an error here, so no file
  between its warning and error thresholds is decoded either) and any file Pillow fails to
  decode (truncated, corrupt, not an image).
- ``MAX_FRAME_PIXELS`` (3840x2160, 8.3 megapixels): a larger image is scaled down, its
  aspect ratio kept, to at most that many pixels before it is written to the ring.  The
  ring's slots are sized from the headers, so they are never more than
  ``3 * MAX_FRAME_PIXELS`` bytes (24.9 MB) whatever the folder holds.

A folder in which no header is usable fails at start (``SourceError``, one line naming the
first file and why); one whose headers pass but whose every file fails to decode fails
after one whole pass of skips (``bad_frame_limit``).
"""

from __future__ import annotations

import glob
import math
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.sources.frame import (
    CapturedFrame,
    Pacer,
    PixelFormat,
    check_frame_array,
    slot_array,
)
from edgeeye.sources.pictures import rgb_pixels, upright

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_DECODED_CACHE_BYTES = 64 * 2**20

#: Headers claiming more pixels are bad frames, never decoded.  Above every camera a Pi
#: takes (12.3 MP for the HQ camera) and a phone's usual 12-24 MP, well under Pillow's
#: bomb warning (89.5 MP); decoding one costs about 120 MB of RGB, which a 1 GB Pi has.
MAX_IMAGE_PIXELS = 40_000_000
#: Larger images are scaled down to this many pixels at most (4K UHD): the model sees a
#: few hundred pixels a side anyway, and it bounds every ring slot at 24.9 MB.
MAX_FRAME_PIXELS = 3840 * 2160

#: What Pillow raises on a file it cannot decode (the bomb error is not an OSError, and a
#: crafted PNG or BMP can reach struct, zlib or the allocator before Pillow notices).
_DECODE_FAILURES = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    MemoryError,
    struct.error,
    zlib.error,
)


@dataclass(frozen=True)
class ImagesSettings:
    path: str
    loop: bool = True
    fps: float = 0.0
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_frame_pixels: int = MAX_FRAME_PIXELS

    def make(self, model_size: tuple[int, int]) -> ImagesSource:
        return ImagesSource(self)


def frame_box(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The (width, height) an image of that size is scaled to fit: itself if small enough,
    else the largest box of its aspect ratio with at most ``max_pixels`` pixels."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


@contextmanager
def _pillow_guard(path: Path) -> Iterator[None]:
    """Whatever Pillow raises about ``path`` becomes one ``BadFrameError`` naming it."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadFrameError(
            f"image {path}: not decoded, a possible decompression bomb: {exc}"
        ) from exc
    except _DECODE_FAILURES as exc:
        raise BadFrameError(f"image {path}: cannot decode: {exc}") from exc


class ImagesSource:
    """A file, a folder or a glob of JPEG/PNG/BMP files, looped or read once in name order."""

    def __init__(self, settings: ImagesSettings) -> None:
        self.settings = settings
        self.finite = not settings.loop
        self.bad_frame_limit = 1  # one whole pass without a readable image; set by open()
        self._files: list[Path] = []
        self._index = 0
        self._cache: dict[int, np.ndarray] | None = None
        self._pacer = Pacer(settings.fps)

    def files(self) -> list[Path]:
        """The files this source reads, in order; SourceError naming the path if none."""
        if self._files:
            return self._files
        path = Path(self.settings.path).expanduser()
        if path.is_dir():
            found = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        elif path.is_file():
            found = [path]
        else:
            found = [
                Path(p) for p in glob.glob(str(path)) if Path(p).suffix.lower() in IMAGE_SUFFIXES
            ]
        if not found:
            raise SourceError(f"images source {self.settings.path}: no JPEG, PNG or BMP files")
        self._files = sorted(found, key=lambda p: p.name.lower())
        return self._files

    def _check_header(self, path: Path, width: int, height: int) -> tuple[int, int]:
        """The frame size an image of this header becomes, or ``BadFrameError``."""
        limit = self.settings.max_image_pixels
        if width * height > limit:
            raise BadFrameError(
                f"image {path}: {width}x{height} is over the {limit / 1e6:g}-megapixel"
                " limit for images; not decoded"
            )
        return frame_box(width, height, self.settings.max_frame_pixels)

    def _frame_size(self, path: Path) -> tuple[int, int]:
        """(width, height) of the frame ``path`` will give, from its header alone."""
        from PIL import Image

        with _pillow_guard(path), Image.open(path) as image:  # reads the header only
            return self._check_header(path, image.width, image.height)

    def header_problems(self) -> list[str]:
        """One line per file its header already shows will be skipped (unreadable, over
        the pixel limit, a decompression bomb); no pixel is decoded."""
        return self._frame_bytes_by_file()[1]

    def _frame_bytes_by_file(self) -> tuple[list[int], list[str]]:
        """Each file's frame size in bytes (0: unusable header) and the problems found."""
        sizes, problems = [], []
        for path in self.files():
            try:
                width, height = self._frame_size(path)
            except BadFrameError as exc:
                sizes.append(0)  # reported as a bad frame when its turn comes
                problems.append(str(exc))
            else:
                sizes.append(width * height * 3)
        return sizes, problems

    def max_frame_bytes(self) -> int:
        sizes, problems = self._frame_bytes_by_file()
        if not any(sizes):
            raise SourceError(f"images source {self.settings.path}: no usable image; {problems[0]}")
        return max(sizes)

    def open(self) -> None:
        self.bad_frame_limit = len(self.files())
        sizes, _problems = self._frame_bytes_by_file()
        if self.settings.loop and sum(sizes) <= _DECODED_CACHE_BYTES:
            self._cache = {}

    def _decode(self, index: int) -> np.ndarray:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        from PIL import Image

        path = self._files[index]
        with _pillow_guard(path), Image.open(path) as image:
            # Checked again: the file may have been replaced since the ring was sized.
            box = self._check_header(path, image.width, image.height)
            if box != image.size:
                image.thumbnail(box)  # a JPEG decodes at a reduced scale (draft) first
            pixels = rgb_pixels(upright(image))
        if self._cache is not None:
            self._cache[index] = pixels
        return pixels

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame | None:
        if self._index >= len(self._files):
            if not self.settings.loop:
                return None
            self._index = 0
        index = self._index
        self._index += 1
        self._pacer.wait()
        pixels = self._decode(index)
        h, w = pixels.shape[:2]
        # A file replaced by a larger one since the ring was sized at start is skipped.
        check_frame_array(pixels, (h, w, 3), len(slot), f"image {self._files[index]}")
        np.copyto(slot_array(slot, (h, w, 3)), pixels)
        return CapturedFrame(h, w, PixelFormat.RGB888, tag=index)

    def close(self) -> None:
        self._cache = None

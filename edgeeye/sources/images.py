"""Still images (a file, a folder or a glob), looped or read once in name order."""

from __future__ import annotations

import glob
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

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_DECODED_CACHE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ImagesSettings:
    path: str
    loop: bool = True
    fps: float = 0.0


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

    def max_frame_bytes(self) -> int:
        from PIL import Image

        largest = 0
        for path in self.files():
            try:
                with Image.open(path) as image:  # reads the header only
                    largest = max(largest, image.width * image.height * 3)
            except OSError:
                continue  # reported as a bad frame when its turn comes
        if not largest:
            raise SourceError(f"images source {self.settings.path}: no readable image")
        return largest

    def open(self) -> None:
        self.bad_frame_limit = len(self.files())
        total = 0
        for path in self._files:
            try:
                from PIL import Image

                with Image.open(path) as image:
                    total += image.width * image.height * 3
            except OSError:
                pass
        if self.settings.loop and total <= _DECODED_CACHE_BYTES:
            self._cache = {}

    def _decode(self, index: int) -> np.ndarray:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        from PIL import Image

        path = self._files[index]
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as exc:
            raise BadFrameError(f"image {path}: cannot decode: {exc}") from exc
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

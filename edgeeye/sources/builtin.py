"""Real frame sources other than the Pi camera: generated frames, image files, video.

Each writes a frame straight into the ring slot it is given and reports its layout.  No
colour conversion happens here (that is the workers' job); see ``frames.FrameSource``.
"""

from __future__ import annotations

import glob
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.pipeline.frames import CapturedFrame, PixelFormat, check_frame_array, stamp_sequence

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_DECODED_CACHE_BYTES = 64 * 2**20


class _Pacer:
    """Sleeps until the next frame is due; late frames are not made up for in a burst."""

    def __init__(self, fps: float) -> None:
        self._interval = 1.0 / fps if fps > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = max(self._next + self._interval, now) if self._next else now + self._interval


def _slot_array(slot: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(slot, np.uint8, count=math.prod(shape)).reshape(shape)


@dataclass(frozen=True)
class SyntheticSettings:
    width: int = 640
    height: int = 480
    fps: float = 0.0
    stamp: bool = False


class SyntheticSource:
    """Generated RGB frames at any size and rate: benchmarks and demos without a camera."""

    finite = False
    bad_frame_limit = 1  # it renders its own frames: none is ever bad
    _VARIANTS = 8

    def __init__(self, settings: SyntheticSettings) -> None:
        self.settings = settings
        self._frames: list[np.ndarray] = []
        self._pacer = _Pacer(settings.fps)

    def max_frame_bytes(self) -> int:
        return self.settings.width * self.settings.height * 3

    def open(self) -> None:
        # A few pre-rendered frames: generating one per call would cost more than inference.
        h, w = self.settings.height, self.settings.width
        ys = np.linspace(0, 255, h, dtype=np.float32)[:, None]
        xs = np.linspace(0, 255, w, dtype=np.float32)[None, :]
        for k in range(self._VARIANTS):
            frame = np.empty((h, w, 3), np.uint8)
            frame[..., 0] = (xs + 32 * k) % 256
            frame[..., 1] = (ys + 16 * k) % 256
            frame[..., 2] = ((xs + ys) / 2 + 48 * k) % 256
            self._frames.append(frame)

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame:
        self._pacer.wait()
        h, w = self.settings.height, self.settings.width
        target = _slot_array(slot, (h, w, 3))
        np.copyto(target, self._frames[sequence % self._VARIANTS])
        if self.settings.stamp:
            stamp_sequence(target, sequence)
        return CapturedFrame(h, w, PixelFormat.RGB888)

    def close(self) -> None:
        self._frames = []


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
        self._pacer = _Pacer(settings.fps)

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
        np.copyto(_slot_array(slot, (h, w, 3)), pixels)
        return CapturedFrame(h, w, PixelFormat.RGB888, tag=index)

    def close(self) -> None:
        self._cache = None


@dataclass(frozen=True)
class VideoSettings:
    path: str
    width: int = 640
    height: int = 480
    fps: float = 0.0


class VideoSource:
    """A video file or a V4L2 device through OpenCV (the optional ``video`` extra)."""

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        self.finite = not settings.path.startswith("/dev/")
        self.bad_frame_limit = 100  # a device sending only unusable frames has failed
        self._capture: Any = None
        self._pacer = _Pacer(settings.fps)

    def max_frame_bytes(self) -> int:
        return self.settings.width * self.settings.height * 3

    def open(self) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise SourceError(
                f"video source {self.settings.path}: OpenCV is not installed"
                " (pip install 'edgeeye[video]')"
            ) from exc
        self._cv2 = cv2
        self._capture = cv2.VideoCapture(self.settings.path)
        if not self.finite:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.settings.width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.settings.height)
            if self.settings.fps:
                self._capture.set(cv2.CAP_PROP_FPS, self.settings.fps)
        if not self._capture.isOpened():
            raise SourceError(f"video source {self.settings.path}: cannot open")

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame | None:
        self._pacer.wait()
        ok, frame = self._capture.read()
        if not ok:
            if self.finite:
                return None
            raise SourceError(f"video source {self.settings.path}: the device stopped sending")
        h, w = self.settings.height, self.settings.width
        if frame.shape[:2] != (h, w):
            frame = self._cv2.resize(frame, (w, h))
        # With CAP_PROP_CONVERT_RGB off or unsupported, a device may hand over raw YUYV,
        # grey or 16-bit frames: skipped and named rather than crashing the capture.
        check_frame_array(frame, (h, w, 3), len(slot), f"video source {self.settings.path}")
        np.copyto(_slot_array(slot, (h, w, 3)), frame[:, :, :3])
        return CapturedFrame(h, w, PixelFormat.BGR888)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

"""A video file or a V4L2 device through OpenCV (the optional ``video`` extra)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeeye.errors import SourceError
from edgeeye.sources.frame import (
    CapturedFrame,
    Pacer,
    PixelFormat,
    check_frame_array,
    slot_array,
)


@dataclass(frozen=True)
class VideoSettings:
    path: str
    width: int = 640
    height: int = 480
    fps: float = 0.0

    def make(self, model_size: tuple[int, int]) -> VideoSource:
        return VideoSource(self)


class VideoSource:
    """A video file or a V4L2 device through OpenCV (the optional ``video`` extra)."""

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        self.finite = not settings.path.startswith("/dev/")
        self.bad_frame_limit = 100  # a device sending only unusable frames has failed
        self._capture: Any = None
        self._pacer = Pacer(settings.fps)

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
        np.copyto(slot_array(slot, (h, w, 3)), frame[:, :, :3])
        return CapturedFrame(h, w, PixelFormat.BGR888)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

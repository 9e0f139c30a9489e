"""The Raspberry Pi camera through picamera2: the ISP scales, capture copies once.

A lores stream is configured at the model's input size, so the ISP does the scaling and
each frame is small.  On a Pi 5 the lores stream may be RGB888 (bytes B,G,R); a Pi 4 only
gives YUV420.  Capture copies the raw bytes into the ring slot through a zero-copy
``MappedArray`` and releases the request at once; the workers convert to RGB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeeye.errors import SourceError
from edgeeye.sources.frame import CapturedFrame, PixelFormat, check_frame_array

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PicameraSettings:
    camera_index: int = 0
    main_size: tuple[int, int] = (1280, 720)
    fps: float = 0.0  # 0: the camera's own rate
    lores_format: str = "auto"  # "auto", "YUV420" or "RGB888"


class Picamera2Source:
    """``FrameSource`` over a picamera2 lores stream of ``model_size`` (width, height)."""

    finite = False
    bad_frame_limit = 100  # a camera sending only unusable frames has failed

    def __init__(self, settings: PicameraSettings, model_size: tuple[int, int]) -> None:
        self.settings = settings
        self.width, self.height = self._model_size = model_size
        self._camera: Any = None
        self._mapped_array: Any = None
        self.pixel_format: PixelFormat | None = None

    @property
    def _name(self) -> str:
        return f"camera {self.settings.camera_index}"

    def max_frame_bytes(self) -> int:
        # Room for libcamera rounding the lores size up to its alignment (see open()).
        width, height = self._model_size
        return _align(width, 64) * _align(height, 16) * 3

    def open(self) -> None:
        try:
            from picamera2 import MappedArray, Picamera2
        except ImportError as exc:
            raise SourceError(
                f"{self._name}: picamera2 is not installed (apt install python3-picamera2)"
            ) from exc
        self._mapped_array = MappedArray
        try:
            self._camera = Picamera2(self.settings.camera_index)
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"{self._name}: cannot open: {_first_line(exc)}") from exc
        formats = (
            ["RGB888", "YUV420"]
            if self.settings.lores_format == "auto"
            else [self.settings.lores_format]
        )
        for lores_format in formats:
            try:
                self._camera.configure(self._configuration(lores_format))
            except (RuntimeError, ValueError) as exc:
                # A Pi 4's ISP refuses a non-YUV lores stream; try the next format.
                log.info("%s: lores %s refused: %s", self._name, lores_format, _first_line(exc))
                continue
            self.pixel_format = (
                PixelFormat.BGR888 if lores_format == "RGB888" else PixelFormat.YUV420
            )
            break
        else:
            self.close()
            raise SourceError(f"{self._name}: no lores format of {formats} can be configured")
        self._use_configured_size()
        try:
            self._camera.start()
        except (RuntimeError, OSError) as exc:
            self.close()
            raise SourceError(f"{self._name}: cannot start: {_first_line(exc)}") from exc
        log.info("%s: lores %dx%d %s", self._name, self.width, self.height, self.pixel_format.name)

    def _use_configured_size(self) -> None:
        """libcamera may adjust a stream's size to what the ISP can produce; picamera2 then
        reports the size it really configured.  Frames carry their size and the workers
        resize anyway, so use it, and say so once."""
        width, height = self._camera.camera_config["lores"]["size"]
        if width * height * 3 > self.max_frame_bytes():
            self.close()
            raise SourceError(
                f"{self._name}: libcamera configured lores {width}x{height} for the model's"
                f" {self.width}x{self.height}; too large for the ring"
            )
        if (width, height) != (self.width, self.height):
            log.info(
                "%s: lores %dx%d adjusted by libcamera to %dx%d",
                self._name,
                self.width,
                self.height,
                width,
                height,
            )
            self.width, self.height = width, height

    def _configuration(self, lores_format: str) -> Any:
        controls = {"FrameRate": self.settings.fps} if self.settings.fps > 0 else {}
        return self._camera.create_video_configuration(
            main={"size": tuple(self.settings.main_size), "format": "YUV420"},
            lores={"size": (self.width, self.height), "format": lores_format},
            controls=controls,
        )

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame:
        if self.pixel_format is None:
            raise SourceError(f"{self._name}: read before the camera was opened")
        try:
            request = self._camera.capture_request()
        except (RuntimeError, OSError) as exc:
            raise SourceError(f"{self._name}: capture failed: {_first_line(exc)}") from exc
        try:
            with self._mapped_array(request, "lores") as mapped:
                self._copy(mapped.array, slot)
        finally:
            request.release()  # back to the camera at once: it has few buffers
        return CapturedFrame(self.height, self.width, self.pixel_format)

    def _copy(self, array: np.ndarray, slot: memoryview) -> None:
        h, w = self.height, self.width
        if self.pixel_format is PixelFormat.BGR888:
            check_frame_array(array, (h, w, 3), len(slot), self._name)
            target = np.frombuffer(slot, np.uint8, count=h * w * 3).reshape(h, w, 3)
            np.copyto(target, array[:h, :w, :3])
            return
        # YUV420 as picamera2 maps it: (h * 3/2, stride) bytes; the Y plane is h rows of
        # ``stride``, then the U and V planes are h/2 rows of stride/2 each.  Copy them
        # without the row padding into a packed I420 frame.
        check_frame_array(array, (h * 3 // 2, w), len(slot), self._name)
        stride = array.shape[1]
        flat = array.reshape(-1)
        target = np.frombuffer(slot, np.uint8, count=h * w * 3 // 2)
        np.copyto(target[: h * w].reshape(h, w), flat[: h * stride].reshape(h, stride)[:, :w])
        chroma_in = (h // 2) * (stride // 2)
        chroma_out = (h // 2) * (w // 2)
        for plane in range(2):
            source = flat[h * stride + plane * chroma_in : h * stride + (plane + 1) * chroma_in]
            start = h * w + plane * chroma_out
            np.copyto(
                target[start : start + chroma_out].reshape(h // 2, w // 2),
                source.reshape(h // 2, stride // 2)[:, : w // 2],
            )

    def close(self) -> None:
        """Stop and release the camera; safe to call twice and after a failed open()."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

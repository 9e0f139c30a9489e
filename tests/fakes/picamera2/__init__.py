"""A small stand-in for picamera2 with the API surface edgeeye's backend uses.

Behaves like the real library where it matters to us: ``configure`` refuses a non-YUV lores
stream on a Pi 4 (VC4) as picamera2 does, ``MappedArray`` hands out the lores buffer with
picamera2's shapes and row padding (stride > width), and requests must be released.
Frames hold a known pattern so tests can check every byte that reaches the ring.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

#: "VC4" (Pi 4 and earlier: lores must be YUV) or "PISP" (Pi 5). Tests set this, or the
#: environment does for an appliance started as a separate process.
PLATFORM = os.environ.get("FAKE_PICAMERA2_PLATFORM", "PISP")
#: Bytes of padding at the end of every row, as the ISP adds for alignment.
ROW_PADDING = 32
#: Every Picamera2 made, for tests to inspect.
INSTANCES: list[Picamera2] = []
#: When set, ``Picamera2()`` raises it (a camera that is absent or busy).
OPEN_ERROR: Exception | None = None
#: A file a test writes "unplugged" into to pull the camera's cable, and anything else to
#: plug it back: opening fails as picamera2 does with no camera, and a running capture
#: times out as libcamera does when the cable goes.
STATE_FILE = os.environ.get("FAKE_PICAMERA2_STATE")
#: libcamera rounds a stream's width up to what the ISP can produce and picamera2 reports
#: the adjusted size in ``camera_config``; 1 means every size is taken as asked.
WIDTH_ALIGNMENT = int(os.environ.get("FAKE_PICAMERA2_WIDTH_ALIGNMENT", "1"))
#: Frames that are not what was configured: "uint16" (16-bit pixels, as a raw stream
#: gives) or "short" (half the rows, a truncated buffer); None for good frames.
FRAME_FAULT = os.environ.get("FAKE_PICAMERA2_FRAME_FAULT")


def _unplugged() -> bool:
    if not STATE_FILE:
        return False
    try:
        with open(STATE_FILE) as state:
            return state.read().strip() == "unplugged"
    except FileNotFoundError:
        return False


def lores_pattern(fmt: str, width: int, height: int, frame: int) -> np.ndarray:
    """The padded buffer the fake ISP produces for frame number ``frame``."""
    rng = np.random.default_rng(frame)
    if fmt == "YUV420":
        stride = width + ROW_PADDING
        return rng.integers(0, 256, height * stride * 3 // 2, dtype=np.uint8)
    stride = width * 3 + ROW_PADDING
    return rng.integers(0, 256, height * stride, dtype=np.uint8)


class CompletedRequest:
    def __init__(self, camera: Picamera2, buffer: np.ndarray) -> None:
        self.picam2 = camera
        self.config = dict(camera.camera_config)
        self._buffer = buffer
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        with MappedArray(self, name) as mapped:
            return np.array(mapped.array)

    def release(self) -> None:
        if self.released:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        self.released = True
        self.picam2.released += 1


class MappedArray:
    """picamera2's shapes: RGB888 as (h, w, 3) over padded rows, YUV420 as (h*3/2, stride)."""

    def __init__(self, request: CompletedRequest, stream: str, reshape: bool = True) -> None:
        self._request = request
        self._stream = stream
        self.array: np.ndarray | None = None

    def __enter__(self) -> MappedArray:
        if self._request.released:
            raise RuntimeError("mapping a released request")
        config = self._request.config[self._stream]
        width, height = config["size"]
        buffer = self._request._buffer
        if config["format"] == "YUV420":
            self.array = buffer.reshape(height * 3 // 2, width + ROW_PADDING)
        else:
            rows = buffer.reshape(height, width * 3 + ROW_PADDING)
            self.array = rows[:, : width * 3].reshape(height, width, 3)
        if FRAME_FAULT == "uint16":
            self.array = self.array.astype(np.uint16) << 2  # 10-bit samples in 16 bits
        elif FRAME_FAULT == "short":
            self.array = self.array[: self.array.shape[0] // 2]
        return self

    def __exit__(self, *_exc: object) -> None:
        self.array = None


class Picamera2:
    def __init__(self, camera_num: int = 0) -> None:
        if OPEN_ERROR is not None:
            raise OPEN_ERROR
        if _unplugged():
            raise IndexError("list index out of range")  # picamera2 with no camera attached
        self.camera_num = camera_num
        self.camera_config: dict[str, Any] = {}
        self.started = False
        self.closed = False
        self.acquired = 0
        self.released = 0
        self.frames = 0
        INSTANCES.append(self)

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return [{"Model": "imx708", "Num": 0}]

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        controls: dict[str, Any] | None = None,
        buffer_count: int = 6,
    ) -> dict[str, Any]:
        return {
            "main": dict(main or {}),
            "lores": dict(lores) if lores else None,
            "controls": dict(controls or {}),
            "buffer_count": buffer_count,
        }

    def configure(self, config: dict[str, Any]) -> None:
        lores = config["lores"]
        if lores is not None:
            main_w, main_h = config["main"]["size"]
            lores_w, lores_h = lores["size"]
            if lores_w > main_w or lores_h > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if PLATFORM == "VC4" and lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
            aligned = -(-lores_w // WIDTH_ALIGNMENT) * WIDTH_ALIGNMENT
            config = {**config, "lores": {**lores, "size": (aligned, lores_h)}}
        self.camera_config = config

    def start(self) -> None:
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_request(self) -> CompletedRequest:
        if not self.started:
            raise RuntimeError("Camera is not running")
        if _unplugged():
            time.sleep(0.1)
            raise RuntimeError("Camera frontend has timed out!")
        rate = self.camera_config["controls"].get("FrameRate")
        if rate:
            time.sleep(1.0 / rate)
        lores = self.camera_config["lores"]
        buffer = lores_pattern(lores["format"], *lores["size"], frame=self.frames)
        self.frames += 1
        self.acquired += 1
        return CompletedRequest(self, buffer)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

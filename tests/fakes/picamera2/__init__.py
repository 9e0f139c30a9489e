"""A stand-in for picamera2 0.3.38 that behaves as the real library does, for what the
virtual camera of the deploy suite (tests/deploy/test_real_camera.py) cannot show: a Pi 4's
and a Pi 5's ISP, a pulled cable, a busy or missing camera.

Written from picamera2's source (picamera2.py, request.py, platform.py), not from what
edgeeye asks of it:

- ``global_camera_info()`` lists the attached cameras; ``Picamera2(n)`` indexes that list, so
  a missing camera is picamera2's own ``IndexError``; a busy one is "Camera __init__
  sequence did not complete." caused by "Failed to acquire camera: Device or resource busy".
- ``create_video_configuration`` fills in picamera2's defaults: main XBGR8888 1280x720 with
  ``preserve_ar``, lores YUV420 at the main size without it, the colour space from the main
  size (Smpte170m below 1280x720, else Rec709), and the controls NoiseReductionMode Fast
  and FrameDurationLimits 33333 us (30 fps) under the caller's.
- ``configure`` checks as picamera2 does (lores within main, YUV lores on a Pi 4, even
  sizes), then fills in each stream's stride and frame size by the ISP's rules (a YUV420
  row of 300 pixels: 320 bytes on a Pi 4, 384 on a Pi 5) and sets the crops: one for both
  streams on a Pi 4, one per stream on a Pi 5.
- ``capture_request`` blocks until a frame is due (the frame duration configured), honours
  ``wait`` (seconds, then ``TimeoutError``) and, with the cable pulled, never returns without
  one: libcamera cancels the requests and picamera2 drops them.
- ``MappedArray`` maps the padded buffer: flat with ``reshape=False``, otherwise in
  picamera2's shapes (RGB888 (h, w, 3); YUV420 (h*3/2, stride); NV12 is not supported).

Knobs, read from the environment for an appliance started as a separate process
(``tests.support.fakes.fake_camera``) and settable by in-process tests:
FAKE_PICAMERA2_PLATFORM (VC4 | PISP), _STATE (a file holding "unplugged" pulls the cable),
_BUSY, _CAMERAS (how many are attached), _LORES_FORMAT / _LORES_SIZE (what libcamera adjusts
the lores stream to, as the virtual camera turns every format into NV12), _FRAME_FAULT
(short | map_error).
"""

from __future__ import annotations

import enum
import os
import threading
import time
from typing import Any

import numpy as np

from picamera2.platform import Platform

#: Every Picamera2 made, for tests to inspect.
INSTANCES: list[Picamera2] = []
STATE_FILE = os.environ.get("FAKE_PICAMERA2_STATE")
BUSY = os.environ.get("FAKE_PICAMERA2_BUSY") == "1"
CAMERAS = int(os.environ.get("FAKE_PICAMERA2_CAMERAS", "1"))
ADJUSTED_LORES_FORMAT = os.environ.get("FAKE_PICAMERA2_LORES_FORMAT")
_size_text = os.environ.get("FAKE_PICAMERA2_LORES_SIZE")
ADJUSTED_LORES_SIZE = tuple(int(v) for v in _size_text.split("x")) if _size_text else None
FRAME_FAULT = os.environ.get("FAKE_PICAMERA2_FRAME_FAULT")
SENSOR_SIZE = (4608, 2592)  # imx708, Camera Module 3
YUV_FORMATS = ("YUV420", "YVU420", "NV12", "NV21")
RGB_FORMATS = ("RGB888", "BGR888", "XBGR8888", "XRGB8888")


def _unplugged() -> bool:
    if not STATE_FILE:
        return False
    try:
        with open(STATE_FILE) as state:
            return state.read().strip() == "unplugged"
    except FileNotFoundError:
        return False


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def stride_for(fmt: str, width: int, platform: Platform) -> int:
    """Bytes per row as each ISP pads them."""
    pisp = platform is Platform.PISP
    if fmt in YUV_FORMATS:
        return _align(width, 128 if pisp else 64)
    bytes_per_pixel = 4 if fmt in ("XBGR8888", "XRGB8888") else 3
    return _align(width * bytes_per_pixel, 64 if pisp else 32)


def frame_size_for(fmt: str, stride: int, height: int) -> int:
    return stride * height * 3 // 2 if fmt in YUV_FORMATS else stride * height


def lores_pattern(frame_size: int, frame: int) -> np.ndarray:
    """The buffer (padding included) the fake ISP produces for frame number ``frame``."""
    return np.random.default_rng(frame).integers(0, 256, frame_size, dtype=np.uint8)


class _Named(enum.Enum):
    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class YcbcrEncoding(_Named):
    Rec601 = 1
    Rec709 = 2


class Range(_Named):
    Full = 0
    Limited = 1


class ColorSpace:
    """libcamera.ColorSpace's presets, with the two fields a YUV conversion needs."""

    def __init__(self, name: str, encoding: YcbcrEncoding, range_: Range) -> None:
        self._name, self.ycbcrEncoding, self.range = name, encoding, range_

    @classmethod
    def Smpte170m(cls) -> ColorSpace:  # libcamera's names
        return cls("Smpte170m", YcbcrEncoding.Rec601, Range.Limited)

    @classmethod
    def Rec709(cls) -> ColorSpace:
        return cls("Rec709", YcbcrEncoding.Rec709, Range.Limited)

    @classmethod
    def Sycc(cls) -> ColorSpace:
        return cls("sYCC", YcbcrEncoding.Rec601, Range.Full)

    def __repr__(self) -> str:
        return f"<libcamera.ColorSpace '{self._name}'>"


class NoiseReductionModeEnum(enum.IntEnum):
    Off = 0
    Fast = 1


class CompletedRequest:
    def __init__(self, camera: Picamera2, buffer: np.ndarray, sensor_ns: int) -> None:
        self.picam2 = camera
        self.config = {name: dict(value) if isinstance(value, dict) else value
                       for name, value in camera.camera_config.items()}  # fmt: skip
        self._buffer = buffer
        self._metadata = {
            "SensorTimestamp": sensor_ns,
            "FrameDuration": camera.frame_duration_us,
            "ExposureTime": min(camera.frame_duration_us, 20000),
        }
        self.ref_count = 1

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def make_array(self, name: str) -> np.ndarray:
        with MappedArray(self, name) as mapped:
            return np.array(mapped.array)

    def release(self) -> None:
        if self.ref_count == 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        self.ref_count -= 1
        self.picam2.released += 1


class MappedArray:
    def __init__(
        self, request: CompletedRequest, stream: str, reshape: bool = True, write: bool = True
    ) -> None:
        self._request = request
        self._stream = stream
        self._reshape = reshape
        self.array: np.ndarray | None = None

    def __enter__(self) -> MappedArray:
        if self._request.ref_count == 0:
            raise RuntimeError("mapping a released request")
        if FRAME_FAULT == "map_error":
            raise ValueError("mmap closed or invalid")
        buffer = self._request._buffer
        if FRAME_FAULT == "short":
            buffer = buffer[: buffer.size // 2]
        config = self._request.config[self._stream]
        self.array = _shaped(buffer, config) if self._reshape else buffer
        return self

    def __exit__(self, *_exc: object) -> None:
        self.array = None


def _shaped(buffer: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """picamera2's Helpers._make_array_shared."""
    fmt, (w, h), stride = config["format"], config["size"], config["stride"]
    if fmt in ("BGR888", "RGB888"):
        return buffer.reshape(h, stride)[:, : w * 3].reshape(h, w, 3)
    if fmt in ("XBGR8888", "XRGB8888"):
        return buffer.reshape(h, stride)[:, : w * 4].reshape(h, w, 4)
    if fmt in ("YUV420", "YVU420"):
        return buffer.reshape(h * 3 // 2, stride)
    raise RuntimeError("Format " + fmt + " not supported")


class Picamera2:
    platform = Platform[os.environ.get("FAKE_PICAMERA2_PLATFORM", "PISP")]

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        if _unplugged():
            return []
        return [
            {"Model": "imx708", "Location": 2, "Rotation": 180,
             "Id": f"/base/axi/pcie@120000/rp1/i2c@{88000 + n}/imx708@1a", "Num": n}
            for n in range(CAMERAS)
        ]  # fmt: skip

    def __init__(self, camera_num: int = 0) -> None:
        camera_num = self.global_camera_info()[camera_num]["Num"]
        if BUSY:
            try:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            except RuntimeError as exc:
                raise RuntimeError("Camera __init__ sequence did not complete.") from exc
        self.camera_idx = camera_num
        self.camera_config: dict[str, Any] = {}
        self.camera_controls: dict[str, tuple[Any, Any, Any]] = {
            "FrameDurationLimits": (16971, 120_000_000, 33333),
            "NoiseReductionMode": (0, 4, 0),
            "ScalerCrop": ((0, 0, 64, 64), (0, 0, *SENSOR_SIZE), (0, 0, *SENSOR_SIZE)),
        }
        self.crops: dict[str, tuple[int, int, int, int]] = {}
        self.started = False
        self.closed = False
        self.acquired = 0
        self.released = 0
        self.flushes = 0
        self.frames = 0
        self._next_frame = 0.0
        INSTANCES.append(self)

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
        transform: Any = None,
        colour_space: ColorSpace | None = None,
        buffer_count: int = 6,
        controls: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        main = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True, **(main or {})}
        main["size"] = _even(main["size"])
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], "preserve_ar": False, **lores}
            lores["size"] = _even(lores["size"])
        if colour_space is None:
            width, height = main["size"]
            small = width < 1280 or height < 720
            colour_space = ColorSpace.Smpte170m() if small else ColorSpace.Rec709()
        defaults = {
            "NoiseReductionMode": NoiseReductionModeEnum.Fast,
            "FrameDurationLimits": (33333, 33333),
        }
        return {
            "use_case": "video", "transform": transform, "colour_space": colour_space,
            "buffer_count": buffer_count, "queue": True, "main": main, "lores": lores,
            "raw": raw, "controls": defaults | (controls or {}), "sensor": {},
        }  # fmt: skip

    def configure(self, config: dict[str, Any]) -> None:
        for name in ("main", "lores"):
            stream = config[name]
            if stream is None:
                continue
            if stream["format"] not in YUV_FORMATS + RGB_FORMATS:
                raise RuntimeError(f"Bad format {stream['format']} in stream {name}")
            if stream["size"][0] % 2 or stream["size"][1] % 2:
                raise RuntimeError("width and height should be even")
        lores = config["lores"]
        if lores is not None:
            (main_w, main_h), (lores_w, lores_h) = config["main"]["size"], lores["size"]
            if lores_w > main_w or lores_h > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if self.platform is Platform.VC4 and lores["format"] not in YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
            # libcamera's validate() may adjust a stream; picamera2 reports what it chose.
            lores["format"] = ADJUSTED_LORES_FORMAT or lores["format"]
            lores["size"] = ADJUSTED_LORES_SIZE or lores["size"]
        for name in ("main", "lores"):
            if (stream := config[name]) is not None:
                stream["stride"] = stride_for(stream["format"], stream["size"][0], self.platform)
                stream["framesize"] = frame_size_for(stream["format"], stream["stride"],
                                                     stream["size"][1])  # fmt: skip
        self.camera_config = config
        self._set_crops(config)

    def _set_crops(self, config: dict[str, Any]) -> None:
        """The sensor area each stream sees: a Pi 5 crops per stream, a Pi 4 once."""

        def crop(stream: dict[str, Any]) -> tuple[int, int, int, int]:
            if not stream.get("preserve_ar"):
                return (0, 0, *SENSOR_SIZE)
            (sensor_w, sensor_h), (w, h) = SENSOR_SIZE, stream["size"]
            crop_w, crop_h = min(sensor_w, sensor_h * w // h), min(sensor_h, sensor_w * h // w)
            return ((sensor_w - crop_w) // 2, (sensor_h - crop_h) // 2, crop_w, crop_h)

        self.crops = {"main": crop(config["main"])}
        if config["lores"] is not None:
            own = self.platform is Platform.PISP
            self.crops["lores"] = crop(config["lores"]) if own else self.crops["main"]

    @property
    def frame_duration_us(self) -> int:
        return int(self.camera_config["controls"]["FrameDurationLimits"][0])

    def start(self) -> None:
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._next_frame = time.monotonic()

    def capture_request(self, wait: bool | float | None = None, flush: Any = None) -> Any:
        if not self.started:
            raise RuntimeError("Camera is not running")
        timeout = None if wait in (None, True) else float(wait)
        if _unplugged():
            # libcamera cancelled the requests; picamera2 drops cancelled ones: no frame
            # ever arrives, and only a timeout returns.
            threading.Event().wait(timeout)
            raise TimeoutError()
        delay = self._next_frame - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_frame = max(self._next_frame, time.monotonic() - 1.0)
        self._next_frame += self.frame_duration_us / 1e6
        lores = self.camera_config["lores"]
        buffer = lores_pattern(lores["framesize"], frame=self.frames)
        sensor_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - 5_000_000
        self.frames += 1
        self.acquired += 1
        return CompletedRequest(self, buffer, sensor_ns)

    def cancel_all_and_flush(self) -> None:
        self.flushes += 1

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        if self.started:
            self.stop()
        self.closed = True


def _even(size: tuple[int, int]) -> tuple[int, int]:
    """picamera2's align_stream(optimal=False): sizes rounded down to even, nothing more."""
    return (size[0] - size[0] % 2, size[1] - size[1] % 2)

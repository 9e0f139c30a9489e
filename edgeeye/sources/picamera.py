"""The Raspberry Pi camera through picamera2: the ISP scales, capture copies once.

A lores stream is configured at the model's input size, so the ISP does the scaling and
each frame is small.  What the camera really gives is read back after ``configure()``, never
inferred from what was asked: libcamera adjusts formats and sizes (the virtual camera gives
NV12 whatever is asked), and its rows are padded to a stride that differs per platform.

- **Format.** A Pi 5 (``Platform.PISP``) gives RGB888 lores (bytes B,G,R); a Pi 4 and
  earlier (``VC4``) only YUV420.  NV12 is accepted too.  Capture writes the pixels without
  row padding into the ring slot as BGR888 or packed I420; the workers convert to RGB.
- **Colour.** picamera2 picks the colour space from the main stream's size (Smpte170m below
  1280x720, Rec709 from there); the one configured is read back and the frame carries the
  matching YUV matrix, so hues do not shift.
- **Geometry.** The lores stream keeps the model's aspect ratio.  A Pi 5 crops each stream
  on its own (``preserve_ar``); a Pi 4 has one crop for both, so there the main stream is
  made the model's shape (a square model: the centre square of the requested main size).
- **Faults.** Each request waits at most a few frame periods: a camera that stops
  delivering (cable pulled, "Camera frontend has timed out!") would otherwise block capture
  forever.  On timeout the pending jobs are flushed and ``SourceError`` names the camera,
  so the supervisor's backoff and retries apply as for any source.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.sources.frame import CapturedFrame, PixelFormat

log = logging.getLogger(__name__)

#: picamera2's video configurations default to 30 fps (FrameDurationLimits 33333 us).
DEFAULT_FPS = 30.0
#: The shortest wait for a frame, whatever the frame rate: a camera's first frames after
#: start() take longer than a frame period.
MIN_CAPTURE_TIMEOUT_S = 2.0
_YUV_MATRICES = {
    ("Rec601", "Limited"): PixelFormat.YUV420,
    ("Rec709", "Limited"): PixelFormat.YUV420_BT709,
    ("Rec601", "Full"): PixelFormat.YUV420_FULL,
}


@dataclass(frozen=True)
class PicameraSettings:
    camera_index: int = 0
    main_size: tuple[int, int] = (1280, 720)
    fps: float = 0.0  # 0: picamera2's video default, 30 fps
    lores_format: str = "auto"  # "auto" (from the platform), "YUV420" or "RGB888"

    def make(self, model_size: tuple[int, int]) -> Picamera2Source:
        """The camera's lores stream at the model's input size (``model_size`` is (height,
        width)), so the ISP scales, not the CPU."""
        return Picamera2Source(self, (model_size[1], model_size[0]))


def import_picamera2(camera: str = "camera") -> Any:
    """The ``picamera2`` module, imported as the capture process will, or ``SourceError``
    naming why not (not installed, or a numpy it was not built against: picamera2 #1088)."""
    try:
        import picamera2
    except ImportError as exc:
        hint = "apt install python3-picamera2"
        if "numpy" in str(exc).lower() or "multiarray" in str(exc):
            hint = f"it needs the numpy apt's packages were built against; {_numpy_in_use()}"
        raise SourceError(
            f"{camera}: picamera2 cannot be imported: {_causes(exc)} ({hint})"
        ) from exc
    return picamera2


class Picamera2Source:
    """``FrameSource`` over a picamera2 lores stream of ``model_size`` (width, height)."""

    finite = False
    bad_frame_limit = 100  # a camera sending only unusable frames has failed

    def __init__(self, settings: PicameraSettings, model_size: tuple[int, int]) -> None:
        self.settings = settings
        self.width, self.height = self._model_size = model_size
        self._camera: Any = None
        self._mapped_array: Any = None
        self._stride = 0
        self._camera_format = ""
        self.pixel_format: PixelFormat | None = None
        fps = settings.fps or DEFAULT_FPS
        self.capture_timeout_s = max(MIN_CAPTURE_TIMEOUT_S, 4.0 / fps)

    @property
    def _name(self) -> str:
        return f"camera {self.settings.camera_index}"

    def max_frame_bytes(self) -> int:
        # Room for libcamera rounding the lores size up to its alignment (see open()).
        width, height = self._model_size
        return _align(width, 64) * _align(height, 16) * 3

    def open(self) -> None:
        module = import_picamera2(self._name)
        picamera2_class = module.Picamera2
        self._mapped_array = module.MappedArray
        self._camera = self._acquire(picamera2_class)
        platform = getattr(getattr(picamera2_class, "platform", None), "name", "VC4")
        try:
            self._configure(platform)
            self._camera.start()
        except SourceError:
            self.close()
            raise
        except (RuntimeError, ValueError, OSError) as exc:
            self.close()
            raise SourceError(f"{self._name}: cannot start: {_causes(exc)}") from exc

    def _acquire(self, picamera2_class: Any) -> Any:
        index = self.settings.camera_index
        try:
            cameras = picamera2_class.global_camera_info()
        except (RuntimeError, OSError) as exc:
            raise SourceError(f"{self._name}: libcamera failed: {_causes(exc)}") from exc
        if index >= len(cameras):
            found = ", ".join(str(c.get("Model", "?")) for c in cameras) or "none"
            raise SourceError(
                f"{self._name}: not found; libcamera found {len(cameras)} camera(s): {found}"
                " (check the ribbon cable and that the camera is enabled)"
            )
        try:
            return picamera2_class(index)
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"{self._name}: cannot open: {_causes(exc)}") from exc

    def _configure(self, platform: str) -> None:
        asked = self.settings.lores_format
        lores_format = asked if asked != "auto" else ("RGB888" if platform == "PISP" else "YUV420")
        main_size = self._main_size(platform)
        fps = self.settings.fps
        controls = {"FrameDurationLimits": (round(1e6 / fps),) * 2} if fps > 0 else {}
        config = self._camera.create_video_configuration(
            main={"size": main_size, "format": "YUV420"},
            lores={"size": (self.width, self.height), "format": lores_format, "preserve_ar": True},
            controls=controls,
        )
        try:
            self._camera.configure(config)
        except (RuntimeError, ValueError) as exc:
            raise SourceError(
                f"{self._name}: configuration refused (main {_size(main_size)}, lores"
                f" {self.width}x{self.height} {lores_format}): {_causes(exc)}"
            ) from exc
        self._read_back(self._camera.camera_config)

    def _main_size(self, platform: str) -> tuple[int, int]:
        """The main stream's size: as configured, except on a Pi 4, where its crop is also
        the lores stream's, so it takes the model's aspect ratio within that size."""
        width, height = self.settings.main_size
        if platform == "PISP":
            return width, height
        aspect = self.width / self.height
        if width / height > aspect:
            width = int(height * aspect) // 2 * 2
        else:
            height = int(width / aspect) // 2 * 2
        return width, height

    def _read_back(self, camera_config: dict[str, Any]) -> None:
        """What libcamera really configured: format, size, stride and colour space."""
        lores = camera_config["lores"]
        fmt, (width, height), stride = lores["format"], lores["size"], lores["stride"]
        if fmt in ("RGB888", "BGR888"):
            if fmt == "BGR888":  # picamera2's names are libcamera's: BGR888 is bytes R,G,B
                self.pixel_format = PixelFormat.RGB888
            else:
                self.pixel_format = PixelFormat.BGR888
        elif fmt in ("YUV420", "NV12"):
            self.pixel_format = _yuv_format(camera_config.get("colour_space"), self._name)
        else:
            raise SourceError(
                f"{self._name}: libcamera configured lores format {fmt}; edgeeye reads"
                " RGB888, BGR888, YUV420 and NV12"
            )
        if self.pixel_format.frame_bytes(height, width) > self.max_frame_bytes():
            raise SourceError(
                f"{self._name}: libcamera configured lores {width}x{height} for the model's"
                f" {self.width}x{self.height}; too large for the ring"
            )
        if (width, height) != (self.width, self.height):
            log.info(
                "%s: lores %dx%d adjusted by libcamera to %dx%d",
                self._name, self.width, self.height, width, height,
            )  # fmt: skip
        self.width, self.height, self._stride, self._camera_format = width, height, stride, fmt
        log.info(
            "%s: lores %dx%d %s from %s (stride %d, colour space %s), main %s",
            self._name, width, height, self.pixel_format.name, fmt, stride,
            _colour_space_name(camera_config.get("colour_space")),
            _size(camera_config["main"]["size"]),
        )  # fmt: skip

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame:
        if self.pixel_format is None:
            raise SourceError(f"{self._name}: read before the camera was opened")
        request = self._next_request()
        try:
            captured_ns = _monotonic_from_sensor(request.get_metadata().get("SensorTimestamp"))
            with self._mapped_array(request, "lores", reshape=False) as mapped:
                self._copy(mapped.array, slot)
        except (ValueError, RuntimeError) as exc:
            raise SourceError(f"{self._name}: cannot read a frame: {_causes(exc)}") from exc
        finally:
            request.release()  # back to the camera at once: it has few buffers
        return CapturedFrame(self.height, self.width, self.pixel_format, captured_ns=captured_ns)

    def _next_request(self) -> Any:
        try:
            return self._camera.capture_request(wait=self.capture_timeout_s)
        except TimeoutError as exc:
            # The requests libcamera cancelled are gone; flush ours so close() can proceed.
            self._camera.cancel_all_and_flush()
            raise SourceError(
                f"{self._name}: no frame for {self.capture_timeout_s:.1f} s (camera stopped"
                " delivering: cable, power or 'Camera frontend has timed out!')"
            ) from exc
        except (RuntimeError, OSError) as exc:
            raise SourceError(f"{self._name}: capture failed: {_causes(exc)}") from exc

    def _copy(self, buffer: np.ndarray, slot: memoryview) -> None:
        """The mapped buffer (flat bytes, rows ``stride`` apart) into ``slot`` unpadded."""
        h, w, stride = self.height, self.width, self._stride
        fmt, pixel_format = self._camera_format, self.pixel_format
        assert pixel_format is not None  # read_into checked
        flat = buffer.reshape(-1)
        needed = (h * 3 // 2 if pixel_format.is_yuv else h) * stride
        if flat.dtype != np.uint8 or flat.size < needed:
            raise BadFrameError(
                f"{self._name}: {fmt} frame of {flat.nbytes} bytes ({flat.dtype}), expected"
                f" {needed} uint8 ({w}x{h}, stride {stride})"
            )
        packed = pixel_format.frame_bytes(h, w)
        if packed > len(slot):
            raise BadFrameError(
                f"{self._name}: a {w}x{h} frame does not fit the ring's {len(slot)}-byte"
                " slots, sized at start"
            )
        luma = flat[: h * stride].reshape(h, stride)
        target = np.frombuffer(slot, np.uint8, count=packed)
        if not pixel_format.is_yuv:
            np.copyto(target.reshape(h, w * 3), luma[:, : w * 3])
            return
        np.copyto(target[: h * w].reshape(h, w), luma[:, :w])
        quarter = (h // 2) * (w // 2)
        u_out = target[h * w : h * w + quarter].reshape(h // 2, w // 2)
        v_out = target[h * w + quarter :].reshape(h // 2, w // 2)
        chroma = flat[h * stride :]
        if fmt == "NV12":  # one plane of interleaved U,V samples, rows ``stride`` apart
            pairs = chroma[: (h // 2) * stride].reshape(h // 2, stride)[:, : w // 2 * 2]
            np.copyto(u_out, pairs[:, 0::2])
            np.copyto(v_out, pairs[:, 1::2])
            return
        # YUV420: the U then the V plane, each h/2 rows of stride/2.
        plane = (h // 2) * (stride // 2)
        for index, out in enumerate((u_out, v_out)):
            rows_in = chroma[index * plane : (index + 1) * plane].reshape(h // 2, stride // 2)
            np.copyto(out, rows_in[:, : w // 2])

    def close(self) -> None:
        """Stop and release the camera; safe to call twice and after a failed open()."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()


def _yuv_format(colour_space: Any, camera: str) -> PixelFormat:
    """The YUV matrix of a libcamera ColorSpace (None: libcamera did not say; BT.601)."""
    if colour_space is None:
        return PixelFormat.YUV420
    key = (_enum_name(colour_space.ycbcrEncoding), _enum_name(colour_space.range))
    if key not in _YUV_MATRICES:
        raise SourceError(
            f"{camera}: colour space {_colour_space_name(colour_space)} ({key[0]}, {key[1]}"
            " range) has no YUV conversion in edgeeye"
        )
    return _YUV_MATRICES[key]


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value)).rsplit(".", 1)[-1]


def _colour_space_name(colour_space: Any) -> str:
    if colour_space is None:
        return "unset"
    text = str(colour_space)
    return text.split("'")[1] if text.count("'") >= 2 else text


def _monotonic_from_sensor(sensor_ns: object) -> int:
    """libcamera's SensorTimestamp (CLOCK_BOOTTIME, start of exposure) on our monotonic
    clock; 0 (capture stamps it) when missing or implausible."""
    if not isinstance(sensor_ns, int) or sensor_ns <= 0:
        return 0
    now = time.monotonic_ns()
    converted = sensor_ns - (time.clock_gettime_ns(time.CLOCK_BOOTTIME) - now)
    return converted if 0 <= now - converted < 10**10 else 0


def _numpy_in_use() -> str:
    try:
        import numpy
    except ImportError:
        return "numpy does not import"
    return f"this Python has numpy {numpy.__version__} from {numpy.__file__.rsplit('/', 2)[0]}"


def _causes(exc: BaseException) -> str:
    """An exception's first line and those of its causes: picamera2 wraps the reason
    ("Device or resource busy") in "Camera __init__ sequence did not complete."."""
    lines: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(lines) < 4:
        text = str(current).strip()
        line = text.splitlines()[0].rstrip(".") if text else type(current).__name__
        if line not in lines:
            lines.append(line)
        current = current.__cause__ or current.__context__
    return ": ".join(lines)


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"

"""The picamera2 backend against tests/fakes/picamera2, which behaves as picamera2 0.3.38
does on a Pi 4 (VC4) and a Pi 5 (PISP); the real library runs in tests/deploy."""

from __future__ import annotations

import re
import sys
import time

import numpy as np
import pytest

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.inference.preprocess import yuv420_to_rgb
from edgeeye.sources.frame import PixelFormat
from edgeeye.sources.picamera import Picamera2Source, PicameraSettings
from tests.support.fakes import FAKES

WIDTH, HEIGHT = 300, 160  # 300: padded to 320 bytes a row on a Pi 4, 384 on a Pi 5


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKES))
    for name in ("picamera2", "picamera2.platform"):
        sys.modules.pop(name, None)
    import picamera2

    monkeypatch.setattr(picamera2, "INSTANCES", [])
    yield picamera2
    for name in ("picamera2", "picamera2.platform"):
        sys.modules.pop(name, None)


def _on(fake, monkeypatch, platform: str) -> None:
    monkeypatch.setattr(fake.Picamera2, "platform", fake.Platform[platform])


def _source(size=(WIDTH, HEIGHT), **settings) -> Picamera2Source:
    return Picamera2Source(PicameraSettings(**settings), size)


def _read(source: Picamera2Source) -> tuple[memoryview, object]:
    slot = memoryview(bytearray(source.max_frame_bytes()))
    return slot, source.read_into(slot, sequence=0)


def _planes(raw: np.ndarray, stride: int, chroma_stride: int) -> tuple[np.ndarray, ...]:
    y = raw[: HEIGHT * stride].reshape(HEIGHT, stride)[:, :WIDTH]
    rest = raw[HEIGHT * stride :]
    size = (HEIGHT // 2) * chroma_stride
    u = rest[:size].reshape(HEIGHT // 2, chroma_stride)
    v = rest[size : 2 * size].reshape(HEIGHT // 2, chroma_stride)
    return y, u, v


def _packed(slot: memoryview) -> tuple[np.ndarray, ...]:
    packed = np.frombuffer(slot, np.uint8, count=WIDTH * HEIGHT * 3 // 2)
    quarter = WIDTH * HEIGHT // 4
    y = packed[: WIDTH * HEIGHT].reshape(HEIGHT, WIDTH)
    u = packed[WIDTH * HEIGHT : WIDTH * HEIGHT + quarter].reshape(HEIGHT // 2, WIDTH // 2)
    v = packed[WIDTH * HEIGHT + quarter :].reshape(HEIGHT // 2, WIDTH // 2)
    return y, u, v


def test_pi5_gives_bgr_lores_frames_without_the_row_padding(fake, monkeypatch):
    _on(fake, monkeypatch, "PISP")
    source = _source()
    source.open()
    slot, frame = _read(source)
    assert (frame.height, frame.width, frame.pixel_format) == (HEIGHT, WIDTH, PixelFormat.BGR888)
    lores = fake.INSTANCES[0].camera_config["lores"]
    assert (lores["format"], lores["stride"]) == ("RGB888", 960)  # 900 bytes, 64-aligned
    raw = fake.lores_pattern(lores["framesize"], frame=0).reshape(HEIGHT, 960)
    assert bytes(slot[: WIDTH * HEIGHT * 3]) == raw[:, : WIDTH * 3].tobytes()
    source.close()


@pytest.mark.parametrize(("platform", "stride"), [("VC4", 320), ("PISP", 384)])
def test_yuv420_rows_are_unpadded_by_each_platforms_stride(fake, monkeypatch, platform, stride):
    _on(fake, monkeypatch, platform)
    source = _source(lores_format="YUV420", main_size=(640, 480))
    source.open()
    slot, frame = _read(source)
    assert frame.pixel_format is PixelFormat.YUV420  # 640x480 main: Smpte170m, BT.601
    lores = fake.INSTANCES[0].camera_config["lores"]
    assert lores["stride"] == stride
    raw = fake.lores_pattern(lores["framesize"], frame=0)
    for got, expected in zip(_packed(slot), _planes(raw, stride, stride // 2), strict=True):
        assert (got == expected[:, : got.shape[1]]).all()
    source.close()


def test_nv12_as_the_virtual_camera_gives_is_deinterleaved_into_i420(fake, monkeypatch):
    _on(fake, monkeypatch, "VC4")
    monkeypatch.setattr(fake, "ADJUSTED_LORES_FORMAT", "NV12")
    source = _source(main_size=(640, 480))
    source.open()
    slot, frame = _read(source)
    assert frame.pixel_format is PixelFormat.YUV420
    lores = fake.INSTANCES[0].camera_config["lores"]
    stride = lores["stride"]
    raw = fake.lores_pattern(lores["framesize"], frame=0)
    y, u, v = _packed(slot)
    pairs = raw[HEIGHT * stride :][: HEIGHT // 2 * stride].reshape(HEIGHT // 2, stride)
    assert (y == raw[: HEIGHT * stride].reshape(HEIGHT, stride)[:, :WIDTH]).all()
    assert (u == pairs[:, 0:WIDTH:2]).all()
    assert (v == pairs[:, 1:WIDTH:2]).all()
    source.close()


def test_the_lores_format_follows_the_platform_with_no_trial_and_error(fake, monkeypatch):
    for platform, asked in (("VC4", "YUV420"), ("PISP", "RGB888")):
        _on(fake, monkeypatch, platform)
        source = _source()
        source.open()
        assert fake.INSTANCES[-1].camera_config["lores"]["format"] == asked
        source.close()
    assert len(fake.INSTANCES) == 2


@pytest.mark.parametrize(
    ("main_size", "expected"),
    [((1280, 720), PixelFormat.YUV420_BT709), ((640, 480), PixelFormat.YUV420)],
)
def test_the_colour_space_configured_picks_the_yuv_matrix(fake, monkeypatch, main_size, expected):
    _on(fake, monkeypatch, "PISP")
    source = _source(lores_format="YUV420", main_size=main_size)
    source.open()
    assert _read(source)[1].pixel_format is expected
    source.close()


def test_bt709_red_converts_to_red_where_bt601_would_shift_it():
    height = width = 2
    planar = np.array([63] * 4 + [102, 240], np.uint8)  # pure red in BT.709, limited range
    red709 = yuv420_to_rgb(planar, height, width, PixelFormat.YUV420_BT709)[0, 0]
    red601 = yuv420_to_rgb(planar, height, width, PixelFormat.YUV420)[0, 0]
    assert abs(red709.astype(int) - [255, 0, 0]).max() <= 2
    assert abs(red601.astype(int) - [255, 0, 0]).max() > 20


@pytest.mark.parametrize("platform", ["VC4", "PISP"])
def test_the_lores_keeps_a_square_models_aspect_ratio(fake, monkeypatch, platform):
    _on(fake, monkeypatch, platform)
    source = _source(size=(224, 224), main_size=(1280, 720))
    source.open()
    camera = fake.INSTANCES[0]
    *_origin, crop_w, crop_h = camera.crops["lores"]
    assert crop_w == crop_h == 2592  # the sensor's centre square, not its 16:9 width
    main = camera.camera_config["main"]["size"]
    # A Pi 4 has one crop for both streams, so main takes the model's shape.
    assert main == ((720, 720) if platform == "VC4" else (1280, 720))
    source.close()


def test_a_lores_larger_than_main_says_so_and_names_the_camera(fake):
    source = _source(size=(640, 480), main_size=(320, 240), camera_index=0)
    with pytest.raises(SourceError, match=r"camera 0: configuration refused .*lores stream "
                       r"dimensions may not exceed main stream"):  # fmt: skip
        source.open()
    assert fake.INSTANCES[0].closed


def test_explicit_rgb888_on_a_pi4_is_refused_with_the_reason(fake, monkeypatch):
    _on(fake, monkeypatch, "VC4")
    source = _source(lores_format="RGB888")
    refused = r"camera 0: .*lores .* RGB888\): lores stream must be YUV"
    with pytest.raises(SourceError, match=refused):
        source.open()


def test_a_camera_that_stops_delivering_times_out_flushes_and_names_the_camera(
    fake, monkeypatch, tmp_path
):
    cable = tmp_path / "cable"
    monkeypatch.setattr(fake, "STATE_FILE", str(cable))
    source = _source()
    assert source.capture_timeout_s == 2.0  # 4 frame periods at 30 fps, at least 2 s
    assert _source(fps=1.0).capture_timeout_s == 4.0
    source.open()
    _read(source)
    cable.write_text("unplugged")
    source.capture_timeout_s = 0.3  # the wait the real library honours; shorter here
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"camera 0: no frame for 0.3 s \(camera stopped"):
        _read(source)
    assert 0.25 < time.monotonic() - started < 2.0
    camera = fake.INSTANCES[0]
    assert camera.flushes == 1 and camera.acquired == camera.released == 1
    source.close()
    assert camera.closed


def test_a_busy_camera_keeps_its_cause(fake, monkeypatch):
    monkeypatch.setattr(fake, "BUSY", True)
    with pytest.raises(SourceError) as raised:
        _source().open()
    assert str(raised.value) == (
        "camera 0: cannot open: Camera __init__ sequence did not complete:"
        " Failed to acquire camera: Device or resource busy"
    )


@pytest.mark.parametrize(
    ("cameras", "index", "found"), [(0, 0, "0 camera(s): none"), (1, 2, "1 camera(s): imx708")]
)
def test_a_missing_camera_says_how_many_libcamera_found(fake, monkeypatch, cameras, index, found):
    monkeypatch.setattr(fake, "CAMERAS", cameras)
    expected = rf"camera {index}: not found; libcamera found {re.escape(found)}"
    with pytest.raises(SourceError, match=expected):
        _source(camera_index=index).open()
    assert not fake.INSTANCES


def test_a_mapping_error_is_a_source_error_and_the_request_goes_back(fake, monkeypatch):
    source = _source()
    source.open()
    monkeypatch.setattr(fake, "FRAME_FAULT", "map_error")
    with pytest.raises(SourceError, match=r"camera 0: cannot read a frame: mmap closed"):
        _read(source)
    camera = fake.INSTANCES[0]
    assert camera.acquired == camera.released == 1
    source.close()


@pytest.mark.parametrize(("platform", "fmt"), [("PISP", "RGB888"), ("VC4", "YUV420")])
def test_a_short_buffer_is_a_bad_frame_and_nothing_is_copied(fake, monkeypatch, platform, fmt):
    _on(fake, monkeypatch, platform)
    source = _source(main_size=(640, 480))
    source.open()
    monkeypatch.setattr(fake, "FRAME_FAULT", "short")
    slot = memoryview(bytearray(source.max_frame_bytes()))
    with pytest.raises(BadFrameError, match=rf"camera 0: {fmt} frame of \d+ bytes"):
        source.read_into(slot, sequence=0)
    assert not any(slot)
    camera = fake.INSTANCES[0]
    assert camera.acquired == camera.released == 1
    source.close()


def test_frame_rate_and_picamera2s_own_controls(fake):
    source = _source(fps=15.0, main_size=(640, 480))
    source.open()
    controls = fake.INSTANCES[0].camera_config["controls"]
    assert controls["FrameDurationLimits"] == (66667, 66667)
    assert controls["NoiseReductionMode"] == fake.NoiseReductionModeEnum.Fast
    source.close()
    default = _source()
    default.open()  # fps 0: picamera2's video default, 30 fps
    assert fake.INSTANCES[1].camera_config["controls"]["FrameDurationLimits"] == (33333, 33333)
    default.close()


def test_the_capture_time_is_the_sensors_timestamp(fake):
    source = _source()
    source.open()
    _, frame = _read(source)
    age_ms = (time.monotonic_ns() - frame.captured_ns) / 1e6
    assert 4.0 <= age_ms < 500  # the fake exposes each frame 5 ms before it is delivered
    source.close()


def test_every_request_is_released_even_when_the_copy_fails(fake):
    source = _source()
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    for sequence in range(5):
        source.read_into(slot, sequence)
    with pytest.raises(BadFrameError, match=r"camera 0: .* does not fit the ring's 10-byte"):
        source.read_into(memoryview(bytearray(10)), 5)
    camera = fake.INSTANCES[0]
    assert camera.acquired == camera.released == 6
    source.close()


def test_releasing_a_request_twice_is_an_error_as_in_picamera2(fake):
    source = _source()
    source.open()
    request = fake.INSTANCES[0].capture_request(wait=1.0)
    request.release()
    with pytest.raises(RuntimeError, match="negative ref_count"):
        request.release()
    source.close()


def test_close_is_safe_twice_and_after_a_failed_open(fake, monkeypatch):
    source = _source()
    source.open()
    source.close()
    source.close()
    assert fake.INSTANCES[0].closed and not fake.INSTANCES[0].started
    monkeypatch.setattr(fake, "BUSY", True)
    broken = _source(camera_index=0)
    with pytest.raises(SourceError, match=r"camera 0: cannot open"):
        broken.open()
    broken.close()


def test_missing_picamera2_names_the_camera(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match=r"camera 0: picamera2 cannot be imported"):
        _source().open()


def test_a_lores_size_adjusted_by_libcamera_is_used_as_configured(fake, monkeypatch):
    monkeypatch.setattr(fake, "ADJUSTED_LORES_SIZE", (320, HEIGHT))
    source = _source()
    source.open()
    slot, frame = _read(source)
    assert (frame.width, frame.height) == (320, HEIGHT)
    lores = fake.INSTANCES[0].camera_config["lores"]
    raw = fake.lores_pattern(lores["framesize"], frame=0).reshape(HEIGHT, lores["stride"])
    assert bytes(slot[: 320 * HEIGHT * 3]) == raw[:, : 320 * 3].tobytes()
    source.close()


def test_a_lores_size_adjusted_beyond_the_slots_is_refused_at_open(fake, monkeypatch):
    monkeypatch.setattr(fake, "ADJUSTED_LORES_SIZE", (640, HEIGHT))
    source = _source(camera_index=0, main_size=(1280, 720))
    with pytest.raises(SourceError, match=r"camera 0: libcamera configured lores 640x160"):
        source.open()
    assert fake.INSTANCES[0].closed

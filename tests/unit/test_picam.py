"""The picamera2 backend against a fake with picamera2's API surface (tests/fakes)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.sources.frame import PixelFormat
from edgeeye.sources.picamera import Picamera2Source, PicameraSettings
from tests.support.fakes import FAKES

WIDTH, HEIGHT = 224, 160


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKES))
    sys.modules.pop("picamera2", None)
    import picamera2

    monkeypatch.setattr(picamera2, "INSTANCES", [])
    monkeypatch.setattr(picamera2, "OPEN_ERROR", None)
    yield picamera2
    sys.modules.pop("picamera2", None)


def _source(**settings) -> Picamera2Source:
    return Picamera2Source(PicameraSettings(**settings), (WIDTH, HEIGHT))


def test_pi5_gives_bgr_lores_frames_without_row_padding(fake, monkeypatch):
    monkeypatch.setattr(fake, "PLATFORM", "PISP")
    source = _source()
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    frame = source.read_into(slot, sequence=0)
    assert (frame.height, frame.width, frame.pixel_format) == (HEIGHT, WIDTH, PixelFormat.BGR888)
    camera = fake.INSTANCES[0]
    assert camera.camera_config["lores"] == {"size": (WIDTH, HEIGHT), "format": "RGB888"}
    padded = fake.lores_pattern("RGB888", WIDTH, HEIGHT, frame=0).reshape(HEIGHT, -1)
    expected = padded[:, : WIDTH * 3].reshape(-1)
    assert bytes(slot[: WIDTH * HEIGHT * 3]) == expected.tobytes()
    source.close()


def test_pi4_falls_back_to_yuv420_and_packs_the_planes(fake, monkeypatch):
    monkeypatch.setattr(fake, "PLATFORM", "VC4")
    source = _source()
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    frame = source.read_into(slot, sequence=0)
    assert frame.pixel_format is PixelFormat.YUV420
    stride = WIDTH + fake.ROW_PADDING
    raw = fake.lores_pattern("YUV420", WIDTH, HEIGHT, frame=0)
    y_plane = raw[: HEIGHT * stride].reshape(HEIGHT, stride)[:, :WIDTH]
    chroma = (HEIGHT // 2) * (stride // 2)
    u_plane = raw[HEIGHT * stride : HEIGHT * stride + chroma].reshape(HEIGHT // 2, stride // 2)
    v_plane = raw[HEIGHT * stride + chroma :].reshape(HEIGHT // 2, stride // 2)
    packed = np.frombuffer(slot, np.uint8, count=WIDTH * HEIGHT * 3 // 2)
    assert (packed[: WIDTH * HEIGHT].reshape(HEIGHT, WIDTH) == y_plane).all()
    u_out = packed[WIDTH * HEIGHT : WIDTH * HEIGHT * 5 // 4].reshape(HEIGHT // 2, WIDTH // 2)
    v_out = packed[WIDTH * HEIGHT * 5 // 4 :].reshape(HEIGHT // 2, WIDTH // 2)
    assert (u_out == u_plane[:, : WIDTH // 2]).all()
    assert (v_out == v_plane[:, : WIDTH // 2]).all()
    source.close()


def test_explicit_rgb888_on_a_pi4_is_refused_naming_the_camera(fake, monkeypatch):
    monkeypatch.setattr(fake, "PLATFORM", "VC4")
    source = _source(lores_format="RGB888", camera_index=1)
    with pytest.raises(SourceError, match=r"camera 1: no lores format"):
        source.open()
    assert fake.INSTANCES[0].closed


def test_every_request_is_released_even_when_the_copy_fails(fake):
    source = _source()
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    for sequence in range(5):
        source.read_into(slot, sequence)
    with pytest.raises(BadFrameError, match=r"camera 0: .* does not fit the ring's 10-byte"):
        source.read_into(memoryview(bytearray(10)), 5)  # a slot too small to copy into
    camera = fake.INSTANCES[0]
    assert camera.acquired == camera.released == 6
    source.close()


def test_close_is_safe_twice_and_after_a_failed_open(fake, monkeypatch):
    source = _source()
    source.open()
    source.close()
    source.close()
    assert fake.INSTANCES[0].closed and not fake.INSTANCES[0].started
    monkeypatch.setattr(
        fake, "OPEN_ERROR", RuntimeError("Camera __init__ sequence did not complete.")
    )
    broken = _source(camera_index=2)
    with pytest.raises(SourceError, match=r"camera 2: cannot open: Camera __init__ sequence"):
        broken.open()
    broken.close()


def test_frame_rate_goes_to_the_camera_controls(fake):
    source = _source(fps=15.0, main_size=(640, 480))
    source.open()
    config = fake.INSTANCES[0].camera_config
    assert config["controls"] == {"FrameRate": 15.0}
    assert config["main"]["size"] == (640, 480)
    source.close()


def test_missing_picamera2_names_the_camera(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match=r"camera 0: picamera2 is not installed"):
        _source().open()


def test_a_lores_size_adjusted_by_libcamera_is_used_as_configured(fake, monkeypatch):
    monkeypatch.setattr(fake, "WIDTH_ALIGNMENT", 64)  # 224 -> 256, as an ISP might round
    source = _source()
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    frame = source.read_into(slot, sequence=0)
    assert (frame.width, frame.height) == (256, HEIGHT)
    padded = fake.lores_pattern("RGB888", 256, HEIGHT, frame=0).reshape(HEIGHT, -1)
    assert bytes(slot[: 256 * HEIGHT * 3]) == padded[:, : 256 * 3].tobytes()
    source.close()


def test_a_lores_size_adjusted_beyond_the_slots_is_refused_at_open(fake, monkeypatch):
    monkeypatch.setattr(fake, "WIDTH_ALIGNMENT", 512)
    source = _source(camera_index=3)
    with pytest.raises(SourceError, match=r"camera 3: libcamera configured lores 512x160"):
        source.open()
    assert fake.INSTANCES[0].closed


@pytest.mark.parametrize(
    ("platform", "fault", "expected"),
    [
        ("PISP", "uint16", r"camera 0: frame of uint16 pixels \(160x224x3\), expected uint8"),
        ("VC4", "uint16", r"camera 0: frame of uint16 pixels \(240x256\), expected uint8"),
        ("PISP", "short", r"camera 0: frame of shape 80x224x3, expected 160x224x3"),
        ("VC4", "short", r"camera 0: frame of shape 120x256, expected 240x224"),
    ],
)
def test_frames_of_the_wrong_dtype_or_size_are_bad_frames_naming_the_camera(
    fake, monkeypatch, platform, fault, expected
):
    monkeypatch.setattr(fake, "PLATFORM", platform)
    source = _source()
    source.open()
    monkeypatch.setattr(fake, "FRAME_FAULT", fault)
    slot = memoryview(bytearray(source.max_frame_bytes()))
    slot[:] = b"\x00" * len(slot)
    with pytest.raises(BadFrameError, match=expected):
        source.read_into(slot, sequence=0)
    assert not any(slot)  # nothing half-copied
    camera = fake.INSTANCES[0]
    assert camera.acquired == camera.released == 1
    source.close()

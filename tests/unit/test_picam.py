"""The picamera2 backend against a fake with picamera2's API surface (tests/fakes)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgeeye.errors import SourceError
from edgeeye.frames import PixelFormat
from edgeeye.picam import Picamera2Source, PicameraSettings

FAKES = Path(__file__).resolve().parents[1] / "fakes"
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
    with pytest.raises(ValueError):
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

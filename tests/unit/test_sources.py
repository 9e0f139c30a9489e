"""Sources on real files: photographs, corrupt files, generated frames, pacing."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PIL import Image

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.sources.frame import PixelFormat, read_stamps
from edgeeye.sources.images import ImagesSettings, ImagesSource
from edgeeye.sources.synthetic import SyntheticSettings, SyntheticSource
from edgeeye.sources.video import VideoSettings, VideoSource

NAMES = ["cat.bmp", "cat_1080p.jpg", "cat_720p.jpg", "grace_hopper.bmp", "parrot.jpg"]


def _read(source, sequence=0, size=None):
    slot = memoryview(bytearray(size or source.max_frame_bytes()))
    frame = source.read_into(slot, sequence)
    if frame is None:
        return None, None
    pixels = np.frombuffer(slot, np.uint8, count=frame.height * frame.width * 3)
    return frame, pixels.reshape(frame.height, frame.width, 3)


def test_folder_read_once_gives_every_photo_in_name_order_then_ends(test_data):
    source = ImagesSource(ImagesSettings(str(test_data / "images"), loop=False))
    assert [p.name for p in source.files()] == NAMES
    assert source.finite and source.max_frame_bytes() == 1920 * 1080 * 3
    source.open()
    for index, name in enumerate(NAMES):
        frame, pixels = _read(source, index)
        expected = np.asarray(Image.open(test_data / "images" / name).convert("RGB"))
        assert frame.tag == index and frame.pixel_format is PixelFormat.RGB888
        assert (pixels == expected).all()
    assert source.read_into(memoryview(bytearray(10)), 5) is None
    source.close()
    source.close()


def test_looping_wraps_around(test_data):
    source = ImagesSource(ImagesSettings(str(test_data / "images" / "*.bmp"), loop=True))
    source.open()
    tags = [_read(source, i)[0].tag for i in range(5)]
    assert tags == [0, 1, 0, 1, 0] and not source.finite
    assert [p.name for p in source.files()] == ["cat.bmp", "grace_hopper.bmp"]


def test_single_file(test_data):
    source = ImagesSource(ImagesSettings(str(test_data / "images" / "parrot.jpg"), loop=False))
    source.open()
    frame, _ = _read(source)
    assert (frame.width, frame.height) == (512, 929)


def test_corrupt_file_is_a_bad_frame_naming_the_file(tmp_path, test_data):
    good = tmp_path / "a.jpg"
    shutil.copy(test_data / "images" / "cat_720p.jpg", good)
    broken = tmp_path / "b.jpg"
    broken.write_bytes(good.read_bytes()[:2000])
    source = ImagesSource(ImagesSettings(str(tmp_path), loop=False))
    source.open()
    assert _read(source, 0)[0].tag == 0
    with pytest.raises(BadFrameError, match=r"image .*b.jpg: cannot decode"):
        _read(source, 1, size=1280 * 720 * 3)
    assert source.read_into(memoryview(bytearray(10)), 2) is None


def test_an_image_grown_since_the_ring_was_sized_is_skipped_naming_it(tmp_path, test_data):
    shutil.copy(test_data / "images" / "cat.bmp", tmp_path / "a.bmp")
    shutil.copy(test_data / "images" / "cat.bmp", tmp_path / "b.bmp")
    source = ImagesSource(ImagesSettings(str(tmp_path), loop=True))
    slot_bytes = source.max_frame_bytes()
    source.open()
    assert source.bad_frame_limit == 2  # a whole pass with nothing readable is a failure
    Image.open(test_data / "images" / "cat_720p.jpg").save(tmp_path / "b.bmp")
    slot = memoryview(bytearray(slot_bytes))
    assert source.read_into(slot, 0).width == 512
    with pytest.raises(
        BadFrameError, match=rf"image .*b.bmp: a 720x1280x3 frame does not fit .*{slot_bytes}-byte"
    ):
        source.read_into(slot, 1)
    assert source.read_into(slot, 2).tag == 0  # and it goes on with the next file


def test_nothing_to_read_is_a_source_error_naming_the_path(tmp_path):
    with pytest.raises(SourceError, match=rf"images source {tmp_path}: no JPEG, PNG or BMP"):
        ImagesSource(ImagesSettings(str(tmp_path))).files()
    with pytest.raises(SourceError, match="nowhere"):
        ImagesSource(ImagesSettings(str(tmp_path / "nowhere" / "*.jpg"))).max_frame_bytes()


def test_synthetic_frames_have_the_shape_vary_and_carry_the_stamp():
    source = SyntheticSource(SyntheticSettings(width=320, height=200, stamp=True))
    source.open()
    first, a = _read(source, 41)
    a = a.copy()
    _, b = _read(source, 42)
    assert (first.width, first.height, first.pixel_format) == (320, 200, PixelFormat.RGB888)
    assert not (a == b).all()
    assert read_stamps(a) == (41, 41) and read_stamps(b) == (42, 42)


def test_fps_paces_frames():
    source = SyntheticSource(SyntheticSettings(width=32, height=32, fps=100))
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    started = time.monotonic()
    for sequence in range(21):
        source.read_into(slot, sequence)
    assert time.monotonic() - started >= 0.19


def test_video_file_round_trip(tmp_path):
    cv2 = pytest.importorskip("cv2", reason="OpenCV (the optional 'video' extra) is not installed")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for value in (40, 120, 200):
        writer.write(np.full((64, 96, 3), value, np.uint8))
    writer.release()
    source = VideoSource(VideoSettings(str(path), width=48, height=32))
    source.open()
    values = []
    while (result := _read(source))[0] is not None:
        frame, pixels = result
        assert (frame.width, frame.height, frame.pixel_format) == (48, 32, PixelFormat.BGR888)
        values.append(int(pixels.mean()))
    assert len(values) == 3 and all(
        abs(v - e) <= 3 for v, e in zip(values, (40, 120, 200), strict=True)
    )
    source.close()
    source.close()


def test_missing_video_is_named(tmp_path):
    pytest.importorskip("cv2", reason="OpenCV (the optional 'video' extra) is not installed")
    with pytest.raises(SourceError, match=r"video source .*absent.mp4: cannot open"):
        VideoSource(VideoSettings(str(tmp_path / "absent.mp4"))).open()

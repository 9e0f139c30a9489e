"""Sources on real files: photographs, corrupt files, generated frames, pacing."""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeeye.errors import BadFrameError, SourceError
from edgeeye.sources.frame import PixelFormat, read_stamps
from edgeeye.sources.images import MAX_FRAME_PIXELS, ImagesSettings, ImagesSource
from edgeeye.sources.synthetic import SyntheticSettings, SyntheticSource
from edgeeye.sources.video import VideoSettings, VideoSource
from tests.support.images import png_claiming

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


def _folder(tmp_path: Path, test_data: Path, extra: dict[str, bytes]) -> Path:
    shutil.copy(test_data / "images" / "parrot.jpg", tmp_path / "a_parrot.jpg")
    shutil.copy(test_data / "images" / "cat.bmp", tmp_path / "z_cat.bmp")
    for name, content in extra.items():
        (tmp_path / name).write_bytes(content)
    return tmp_path


def _read_all(source: ImagesSource) -> tuple[list[tuple[int, int, int]], list[str]]:
    """(tag, width, height) of every frame read in one pass, and the skips' messages."""
    source.open()
    slot = memoryview(bytearray(source.max_frame_bytes()))
    frames, skipped = [], []
    for sequence in range(len(source.files())):
        try:
            frame = source.read_into(slot, sequence)
        except BadFrameError as exc:
            skipped.append(str(exc))
            continue
        assert frame is not None
        frames.append((frame.tag, frame.width, frame.height))
    assert source.read_into(slot, 99) is None
    return frames, skipped


def test_a_decompression_bomb_is_a_bad_frame_and_does_not_size_the_ring(tmp_path, test_data):
    bomb = png_claiming(60000, 60000)
    assert len(bomb) < 1024
    folder = _folder(tmp_path, test_data, {"m_bomb.png": bomb})
    source = ImagesSource(ImagesSettings(str(folder), loop=False))
    assert source.max_frame_bytes() == 512 * 929 * 3  # the parrot, the largest usable
    assert source.header_problems() == [
        f"image {folder / 'm_bomb.png'}: not decoded, a possible decompression bomb: Image size"
        " (3600000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb"
        " DOS attack."
    ]
    frames, skipped = _read_all(source)
    assert frames == [(0, 512, 929), (2, 512, 341)]  # the parrot and the cat
    assert skipped == source.header_problems()


def test_between_pillows_warning_and_error_is_a_bad_frame_not_a_warning(tmp_path, test_data):
    folder = _folder(tmp_path, test_data, {"m_wide.png": png_claiming(10000, 10000)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape
        frames, skipped = _read_all(ImagesSource(ImagesSettings(str(folder), loop=False)))
    assert [tag for tag, _w, _h in frames] == [0, 2]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"image {folder / 'm_wide.png'}: not decoded, a possible")
    assert "(100000000 pixels) exceeds limit of 89478485 pixels" in skipped[0]


def test_over_the_pixel_limit_but_under_pillows_is_skipped_undecoded(tmp_path, test_data):
    folder = _folder(tmp_path, test_data, {})
    Image.new("P", (9000, 5000), 3).save(folder / "m_huge.png")  # 45 MP, a few kB
    source = ImagesSource(ImagesSettings(str(folder), loop=False))
    assert source.max_frame_bytes() == 512 * 929 * 3
    frames, skipped = _read_all(source)
    assert [tag for tag, _w, _h in frames] == [0, 2]
    assert skipped == [
        f"image {folder / 'm_huge.png'}: 9000x5000 is over the 40-megapixel limit for images;"
        " not decoded"
    ]


def test_an_image_over_the_frame_limit_is_scaled_down_to_fit(test_data):
    path = test_data / "images" / "cat_1080p.jpg"
    source = ImagesSource(ImagesSettings(str(path), loop=False, max_frame_pixels=640 * 400))
    assert source.max_frame_bytes() <= 640 * 400 * 3
    frame, pixels = _read(source)
    assert (frame.width, frame.height) == (674, 379)  # 16:9 kept, 255,446 pixels
    expected = np.asarray(Image.open(path).convert("RGB").resize((674, 379)), np.float32)
    assert np.abs(pixels.astype(np.float32) - expected).mean() < 8  # the same picture
    assert ImagesSource(ImagesSettings(str(path))).max_frame_bytes() == 1920 * 1080 * 3
    assert MAX_FRAME_PIXELS * 3 < 25_000_000  # the largest slot any image folder asks for


def test_a_folder_of_only_unusable_images_fails_at_start_naming_one(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_claiming(60000, 60000))
    (tmp_path / "text.jpg").write_bytes(b"not a picture")
    with pytest.raises(
        SourceError,
        match=rf"^images source {tmp_path}: no usable image; image {tmp_path / 'bomb.png'}: "
        "not decoded, a possible decompression bomb: ",
    ):
        ImagesSource(ImagesSettings(str(tmp_path))).max_frame_bytes()


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

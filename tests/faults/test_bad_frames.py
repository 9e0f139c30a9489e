"""Frames that are not what the source promised: skipped, counted, named once, and a
source that sends nothing else fails the way a source fails (retries, then exit 4)."""

from __future__ import annotations

import shutil
import signal

from tests.support.appliance import run_to_end
from tests.support.configs import photo_config, photo_sequence, small_model_config
from tests.support.fakes import fake_camera
from tests.support.images import png_claiming
from tests.support.paths import EXPECTED_TOP1
from tests.support.processes import lingering, shm_segments


def test_a_camera_sending_truncated_frames_exits_4_naming_it_after_counted_skips(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    config = small_model_config(
        tmp_path,
        broker.port,
        test_data,
        source="{type: picamera2, fps: 200}",
        supervisor="source_backoff_s: 0.2, source_backoff_max_s: 0.4, source_retries: 2",
    )
    appliance = appliance_factory(config, env=fake_camera(frame_fault="short"))
    assert appliance.wait(60) == 4, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    stats = subscriber.json_on("/stats")[-1]
    cause = (
        "camera 0: RGB888 frame of 24576 bytes (uint8), expected 49152 uint8 (128x128, stride 384)"
    )
    assert stats["fault"] == f"{cause} (100 unusable frames in a row) (3 failures in a row)"
    assert stats["frames_skipped"] == 300  # three capture processes, 100 frames each
    assert stats["frames_captured"] == 0 and not subscriber.json_on("/result")
    assert appliance.stderr.count(f"skipped a frame: {cause}") == 3  # once per capture run
    assert appliance.stderr.strip().splitlines()[-1] == f"edgeeye: error: {stats['fault']}"
    assert not lingering(appliance.process.pid)
    assert not [s for s in shm_segments() if s.startswith(f"edgeeye_{appliance.process.pid}_")]


def test_a_truncated_frame_now_and_then_is_skipped_and_the_rest_classified(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    """A looping folder where one file is cut short: each pass skips it (named once in
    the log), classifies the others, and the skips are counted in the stats."""
    subscriber = subscriber_factory(broker)
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(test_data / "images" / "cat.bmp", images / "a_cat.bmp")
    shutil.copy(test_data / "images" / "parrot.jpg", images / "c_parrot.jpg")
    whole = (test_data / "images" / "grace_hopper.bmp").read_bytes()
    (images / "b_cut.bmp").write_bytes(whole[: len(whole) // 3])
    config = small_model_config(
        tmp_path,
        broker.port,
        test_data,
        source=f"{{type: images, path: {images}, loop: true, fps: 60}}",
        mqtt="stats_interval: 1",
    )
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: len([m for m in r if m.topic.endswith("/result")]) >= 60, 60)
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    results = subscriber.json_on("/result")
    assert {r["source"] for r in results} == {"a_cat.bmp", "c_parrot.jpg"}
    stats = subscriber.json_on("/stats")[-1]
    passes = stats["frames_captured"] // 2
    assert passes >= 30 and stats["frames_skipped"] in (passes, passes + 1)
    assert stats["restarts"] == {} and stats["fault"] is None
    assert appliance.stderr.count("skipped a frame: image ") == 1, appliance.stderr
    assert f"image {images / 'b_cut.bmp'}: cannot decode" in appliance.stderr


def test_a_decompression_bomb_among_photos_is_skipped_and_the_photos_classified(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    """A 60000x60000 PNG of under 1 kB in a folder read once: it was a traceback and exit 1
    (a restart loop under systemd); now it is one counted skip named once in the log."""
    subscriber = subscriber_factory(broker)
    names = ["cat.bmp", "parrot.jpg", "grace_hopper.bmp"]
    images = photo_sequence(tmp_path / "images", test_data, names)
    bomb = images / "001_bomb.png"  # between the cat and the parrot in name order
    bomb.write_bytes(png_claiming(60000, 60000))
    config = photo_config(
        tmp_path, broker.port, test_data, f"{{type: images, path: {images}, loop: false}}"
    )
    appliance = run_to_end(appliance_factory, config, subscriber)
    results = subscriber.json_on("/result")
    assert sorted((r["source"], r["labels"][0]["label"]) for r in results) == [
        (f"{position:03d}_{name}", EXPECTED_TOP1[name]) for position, name in enumerate(names)
    ]
    stats = subscriber.json_on("/stats")[-1]
    assert (stats["frames_captured"], stats["frames_skipped"]) == (3, 1)
    assert stats["fault"] is None and stats["restarts"] == {}
    named = [line for line in appliance.stderr.splitlines() if str(bomb) in line]
    assert len(named) == 1, appliance.stderr
    assert "skipped a frame: image" in named[0] and "decompression bomb" in named[0]
    assert "Traceback" not in appliance.stderr

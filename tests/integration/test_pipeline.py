"""The real appliance end to end: real processes, shared memory, model and broker."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.configs import write_config
from tests.support.fakes import fake_camera
from tests.support.paths import EXPECTED_TOP1
from tests.support.processes import lingering, session_members, shm_segments

RESULT_FIELDS = {
    "device",
    "sequence",
    "captured_at",
    "model",
    "labels",
    "inference_ms",
    "latency_ms",
    "worker",
}


def _config(tmp_path, broker, test_data, source: str, extra: str = "") -> object:
    return write_config(
        tmp_path / "edgeeye.yaml",
        f"""
device_id: cam1
source: {source}
model:
  path: {test_data}/models/mobilenet_v2_1.0_224_quant.tflite
  labels: {test_data}/models/imagenet_labels.txt
  top_k: 3
workers: 2
mqtt: {{host: 127.0.0.1, port: {broker.port}, stats_interval: 1}}
{extra}""",
    )


def test_photographs_read_once_give_documented_labels_then_exit_0(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    config = _config(
        tmp_path, broker, test_data, f"{{type: images, path: {test_data}/images, loop: false}}"
    )
    appliance = appliance_factory(config)
    assert appliance.wait(60) == 0, appliance.stderr
    received = subscriber.collect(
        lambda r: any(m.topic == "edgeeye/cam1/status" and m.payload == b"offline" for m in r), 10
    )
    results = [json.loads(m.payload) for m in received if m.topic == "edgeeye/cam1/result"]
    assert sorted(r["sequence"] for r in results) == [0, 1, 2, 3, 4]
    assert {r["source"]: r["labels"][0]["label"] for r in results} == EXPECTED_TOP1
    for result in results:
        assert set(result) >= RESULT_FIELDS
        assert result["device"] == "cam1" and result["model"] == "mobilenet_v2_1.0_224_quant"
        assert result["labels"][0]["score"] >= 0.5 and len(result["labels"]) == 3
        assert result["captured_at"].endswith("Z") and result["worker"] in (0, 1)
        assert 0 < result["inference_ms"] <= result["latency_ms"]
    statuses = [m.payload for m in received if m.topic == "edgeeye/cam1/status"]
    assert statuses[0] == b"online" and statuses[-1] == b"offline"
    stats = [json.loads(m.payload) for m in received if m.topic == "edgeeye/cam1/stats"]
    assert stats[-1]["frames_captured"] == 5 and stats[-1]["frames_classified"] == 5
    assert stats[-1]["results_published"] == 5 and sum(stats[-1]["worker_frames"]) == 5
    assert stats[-1]["latency_ms"]["p99"] > 0


def test_status_is_retained_online_then_offline(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    config = _config(tmp_path, broker, test_data, "{type: synthetic, fps: 20}")
    appliance = appliance_factory(config)
    first = subscriber_factory(broker)
    first.collect(lambda r: any(m.topic.endswith("/result") for m in r), 60)
    late = subscriber_factory(broker, "edgeeye/cam1/status")
    online = late.collect(lambda r: len(r) >= 1, 10)
    assert online[0].payload == b"online" and online[0].retain
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(15) == 0
    after = subscriber_factory(broker, "edgeeye/cam1/status")
    offline = after.collect(lambda r: len(r) >= 1, 10)
    assert offline[0].payload == b"offline" and offline[0].retain


def _scheduling(pid: int) -> tuple[str, set[int], set[int]]:
    """(name, the scheduling policies of its threads, the cores it may run on)."""
    name = Path(f"/proc/{pid}/comm").read_text().strip()
    policies = {os.sched_getscheduler(int(t.name)) for t in Path(f"/proc/{pid}/task").iterdir()}
    return name, policies, os.sched_getaffinity(pid)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two usable cores")
def test_workers_are_pinned_and_the_rest_yields_to_them(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    appliance = appliance_factory(
        _config(tmp_path, broker, test_data, "{type: synthetic, fps: 20}")
    )
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r) >= 5, 60)
    main = appliance.process.pid
    seen = {pid: _scheduling(pid) for pid in session_members(main)}
    by_name = {name: (policies, cores) for name, policies, cores in seen.values()}
    cores = sorted(os.sched_getaffinity(0))
    # Each worker on a core of its own, at the normal policy: nothing of ours preempts it.
    assert by_name["edgeeye-w0"] == ({os.SCHED_OTHER}, {cores[0]})
    assert by_name["edgeeye-w1"] == ({os.SCHED_OTHER}, {cores[1]})
    # Capture and every thread of the main process (publisher, paho's network thread, the
    # log listener) wait for a free core instead.
    assert by_name["edgeeye-capture"][0] == {os.SCHED_BATCH}
    main_policies = seen[main][1]
    assert main_policies == {os.SCHED_BATCH}
    assert len(list(Path(f"/proc/{main}/task").iterdir())) >= 3
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(15) == 0, appliance.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_within_10_s(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory, signum
):
    before = shm_segments()
    subscriber = subscriber_factory(broker)
    config = _config(tmp_path, broker, test_data, "{type: synthetic, fps: 0}")
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r) >= 10, 60)
    appliance.signal(signum)
    started = time.monotonic()
    assert appliance.wait(15) == 0, appliance.stderr
    stop_seconds = time.monotonic() - started
    assert stop_seconds < 10
    received = subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 5)
    assert received[-1].topic == "edgeeye/cam1/status" and received[-1].payload == b"offline"
    # nothing classified was lost: every result counted as published reached the subscriber
    stats = [json.loads(m.payload) for m in received if m.topic.endswith("/stats")]
    results = [json.loads(m.payload) for m in received if m.topic.endswith("/result")]
    assert stats[-1]["results_published"] == len(results) == stats[-1]["frames_classified"]
    assert lingering(appliance.process.pid) == set()
    assert shm_segments() <= before


def test_second_sigint_exits_at_once_and_still_cleans_up(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    before = shm_segments()
    subscriber = subscriber_factory(broker)
    appliance = appliance_factory(_config(tmp_path, broker, test_data, "{type: synthetic, fps: 0}"))
    subscriber.collect(lambda r: any(m.topic.endswith("/result") for m in r), 60)
    appliance.signal(signal.SIGINT)
    time.sleep(0.1)  # two signals sent at once reach the process as one
    appliance.signal(signal.SIGINT)
    assert appliance.wait(10) == 130
    assert lingering(appliance.process.pid) == set()
    assert shm_segments() <= before


def test_kill_9_publishes_the_last_will_and_the_next_start_cleans_up(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker, "edgeeye/cam1/status")
    config = _config(tmp_path, broker, test_data, "{type: synthetic, fps: 10}")
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: any(m.payload == b"online" for m in r), 60)
    killed_pid = appliance.process.pid
    appliance.process.kill()
    appliance.wait(10)
    received = subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    assert received[-1].payload == b"offline"
    # children die with the main process (PDEATHSIG); nothing keeps running
    assert lingering(killed_pid) == set()
    # the next start removes whatever segment the killed run left
    rerun = appliance_factory(config, "--duration", "1")
    assert rerun.wait(60) == 0, rerun.stderr
    assert not any(name.startswith(f"edgeeye_{killed_pid}_") for name in shm_segments())
    assert not any(name.startswith(f"edgeeye_{rerun.process.pid}_") for name in shm_segments())


@pytest.mark.parametrize("platform", ["VC4", "PISP"])
def test_picamera2_source_runs_end_to_end_on_the_fake_camera(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory, platform
):
    """The real capture process drives the picamera2 backend (fake camera, real everything else)."""
    subscriber = subscriber_factory(broker)
    config = _config(tmp_path, broker, test_data, "{type: picamera2, fps: 30}")
    appliance = appliance_factory(config, "--duration", "3", env=fake_camera(platform=platform))
    assert appliance.wait(60) == 0, appliance.stderr
    received = subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    results = [json.loads(m.payload) for m in received if m.topic.endswith("/result")]
    assert len(results) >= 10
    assert all(len(r["labels"]) == 3 for r in results)
    # A Pi 4's main stream takes the square model's shape (720x720), so picamera2 picks
    # Smpte170m (BT.601) for it; a Pi 5 lores is RGB888, bytes B,G,R.
    expected = "YUV420 from YUV420" if platform == "VC4" else "BGR888 from RGB888"
    assert f"lores 224x224 {expected}" in appliance.stderr


def test_video_file_source_classifies_every_frame(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    cv2 = pytest.importorskip("cv2", reason="OpenCV (the optional 'video' extra) is not installed")
    photo = cv2.imread(str(test_data / "images" / "cat_720p.jpg"))
    clip = tmp_path / "cat.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5, (1280, 720))
    for _ in range(4):
        writer.write(photo)
    writer.release()
    subscriber = subscriber_factory(broker)
    config = _config(
        tmp_path, broker, test_data, f"{{type: video, path: {clip}, width: 1280, height: 720}}"
    )
    appliance = appliance_factory(config)
    assert appliance.wait(60) == 0, appliance.stderr
    received = subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    results = [json.loads(m.payload) for m in received if m.topic.endswith("/result")]
    assert sorted(r["sequence"] for r in results) == [0, 1, 2, 3]
    assert {r["labels"][0]["label"] for r in results} == {"Egyptian cat"}

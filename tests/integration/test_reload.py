"""Config edits applied with SIGHUP while the appliance classifies real photographs.

A valid edit (another model) is applied by replacing the workers one at a time, so results
keep coming; an invalid edit is refused with one line naming the key and its line, the
appliance keeps classifying on the old config, and ``check-config`` gives the same verdict.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from pathlib import Path

from edgeeye.tools.launcher import edgeeye_command
from tests.support.configs import write_config
from tests.support.paths import EXPECTED_TOP1
from tests.support.processes import session_members

SMALL, LARGE = "mobilenet_v1_0.25_128_quant", "mobilenet_v2_1.0_224_quant"


def _config_text(test_data: Path, port: int, model: str, workers: str = "2") -> str:
    return f"""
device_id: cam1
source: {{type: images, path: {test_data}/images, fps: 20}}
model:
  path: {test_data}/models/{model}.tflite
  labels: {test_data}/models/imagenet_labels.txt
workers: {workers}
mqtt: {{host: 127.0.0.1, port: {port}, stats_interval: 1}}
"""


def _pids(appliance, name: str) -> set[int]:
    found = set()
    for pid in session_members(appliance.process.pid):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith(name):
                found.add(pid)
        except OSError:
            continue
    return found


def _results(subscriber) -> list[tuple[float, dict]]:
    return [
        (m.timestamp, json.loads(m.payload))
        for m in subscriber.received
        if m.topic.endswith("/result")
    ]


def _classifying(tmp_path, broker, test_data, subscriber_factory, appliance_factory, results):
    """The appliance on the small model, once ``results`` results have arrived."""
    config = write_config(tmp_path / "edgeeye.yaml", _config_text(test_data, broker.port, SMALL))
    subscriber = subscriber_factory(broker)
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r) >= results, 60)
    return config, subscriber, appliance


def test_a_model_change_is_applied_by_rolling_workers_without_a_gap(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    config, subscriber, appliance = _classifying(
        tmp_path, broker, test_data, subscriber_factory, appliance_factory, 40
    )
    capture_before, workers_before = (
        _pids(appliance, "edgeeye-capture"),
        _pids(appliance, "edgeeye-w"),
    )
    config.write_text(_config_text(test_data, broker.port, LARGE))
    reloaded_at = time.monotonic()  # paho stamps messages on the monotonic clock
    appliance.signal(signal.SIGHUP)
    subscriber.collect(
        lambda r: sum(b'"model":"' + LARGE.encode() in m.payload for m in r) >= 20, 60
    )
    assert _pids(appliance, "edgeeye-capture") == capture_before  # the source did not change
    assert not _pids(appliance, "edgeeye-w") & workers_before  # every worker was replaced
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    results = _results(subscriber)
    after = [r for _, r in results if r["model"] == LARGE]
    assert {r["source"]: r["labels"][0]["label"] for r in after} == EXPECTED_TOP1
    arrivals = sorted(t for t, _ in results)
    around = [b - a for a, b in itertools.pairwise(arrivals) if b > reloaded_at - 1]
    print(f"longest gap between results around the reload: {max(around) * 1000:.0f} ms")
    assert max(around) < 5.0
    stats = subscriber.json_on("/stats")[-1]
    assert stats["config_reloads"] == 1 and stats["config_rejected"] is None
    assert stats["frames_captured"] >= len(results)  # the ring and its counters carried on
    assert "config reloaded; restarting: workers" in appliance.stderr


def test_an_invalid_edit_is_refused_and_the_appliance_keeps_classifying(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    config, subscriber, appliance = _classifying(
        tmp_path, broker, test_data, subscriber_factory, appliance_factory, 20
    )
    config.write_text(_config_text(test_data, broker.port, SMALL, workers="lots"))
    appliance.signal(signal.SIGHUP)
    time.sleep(1.5)
    seen = len(subscriber.received)
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r[seen:]) >= 20, 30)
    expected = f"{config}: line 7: workers: 'lots' is not allowed"
    verdict = subprocess.run(
        edgeeye_command("check-config", str(config)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert verdict.returncode == 2 and verdict.stderr.startswith(f"edgeeye: error: {expected}")
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    assert appliance.stderr.count("config edit rejected") == 1
    assert f"still running the previous config: {expected}" in appliance.stderr
    stats = subscriber.json_on("/stats")[-1]
    assert stats["config_rejected"].startswith(expected)
    assert stats["config_reloads"] == 0
    assert {r["model"] for r in subscriber.json_on("/result")} == {SMALL}


def test_hostile_edits_are_refused_and_the_appliance_keeps_classifying(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    """3000 levels of nesting, an alias bomb and a repeated key: each reload is refused in
    one line, in milliseconds, and the appliance never stops classifying on the old
    config."""
    config, subscriber, appliance = _classifying(
        tmp_path, broker, test_data, subscriber_factory, appliance_factory, 20
    )
    bomb = 'lol0: &lol0 "lol"\n' + "".join(
        f"lol{n}: &lol{n} [{','.join([f'*lol{n - 1}'] * 9)}]\n" for n in range(1, 10)
    )
    hostile = [
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", f"{config}: line 1: nested deeper than 32 levels"),
        (bomb, f"{config}: line 2: YAML aliases (*name) are not allowed in the config"),
        # A key repeated by a hand edit: YAML would silently keep the later value.
        (
            "device_id: cam1\nlogging: {level: INFO}\nlogging: {level: DEBUG}\n",
            f"{config}: line 3: logging: given twice (lines 2 and 3)",
        ),
    ]
    for text, expected in hostile:
        config.write_text(text)
        seen = len(subscriber.received)
        appliance.signal(signal.SIGHUP)
        subscriber.collect(
            lambda r, seen=seen, expected=expected: any(
                m.topic.endswith("/stats") and json.loads(m.payload)["config_rejected"] == expected
                for m in r[seen:]
            ),
            30,
        )
        mark = len(subscriber.received)
        subscriber.collect(
            lambda r, mark=mark: sum(m.topic.endswith("/result") for m in r[mark:]) >= 20, 30
        )
    assert appliance.process.poll() is None
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    assert appliance.stderr.count("config edit rejected") == len(hostile)
    for _, expected in hostile:
        assert f"still running the previous config: {expected}\n" in appliance.stderr
    assert "Traceback" not in appliance.stderr
    stats = subscriber.json_on("/stats")[-1]
    assert stats["config_rejected"] == hostile[-1][1] and stats["config_reloads"] == 0
    assert {r["model"] for r in subscriber.json_on("/result")} == {SMALL}


def test_publish_settings_change_live_without_restarting_anything(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    one_photo = _config_text(test_data, broker.port, SMALL).replace(
        f"{test_data}/images", f"{test_data}/images/parrot.jpg"
    )
    config = write_config(tmp_path / "edgeeye.yaml", one_photo)
    subscriber = subscriber_factory(broker)
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r) >= 20, 60)
    children = _pids(appliance, "edgeeye-")
    edited = one_photo.replace("model:\n", "model:\n  min_score: 0.05\n")
    edited += "publish: {mode: on_change, hold_s: 0, heartbeat_s: 0}\nsnapshot: {enabled: true}\n"
    config.write_text(edited)
    appliance.signal(signal.SIGHUP)
    subscriber.collect(lambda r: any(b'"on_change"' in m.payload for m in r), 10)
    mark = len(subscriber.received)
    subscriber.drain(3.0)
    after = subscriber.received[mark:]
    results = [json.loads(m.payload) for m in after if m.topic.endswith("/result")]
    # 20 frames a second of one photograph before; now the one change it makes, with its
    # labels at or above the new min_score, and its snapshot.
    assert [r["reason"] for r in results] == ["change"]
    assert results[0]["labels"] and all(x["score"] >= 0.05 for x in results[0]["labels"])
    snapshots = [m for m in after if m.topic.endswith("/snapshot")]
    assert len(snapshots) == 1 and snapshots[0].payload[:3] == b"\xff\xd8\xff"
    assert _pids(appliance, "edgeeye-") == children  # no process was replaced
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    assert "config reloaded; restarting: nothing" in appliance.stderr

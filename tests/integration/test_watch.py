"""``edgeeye watch`` against a real broker and the real appliance."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import paho.mqtt.publish as publish

from edgeeye.tools.launcher import edgeeye_command
from tests.support.configs import write_config


def _watch(broker, *args: str) -> subprocess.Popen[str]:
    """``edgeeye watch --json``, once it is subscribed (it prints a retained probe)."""
    publish.single("edgeeye/probe/status", "online", qos=1, retain=True,
                   hostname="127.0.0.1", port=broker.port)  # fmt: skip
    process = subprocess.Popen(
        edgeeye_command("watch", "--port", str(broker.port), "--json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stdout.readline())
    assert (first["device"], first["kind"], first["retained"]) == ("probe", "status", True)
    return process


def _stop(process: subprocess.Popen[str]) -> tuple[list[dict], str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()], err


def _stderr_until(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    """What ``process`` wrote on stderr up to the line holding ``text``."""
    said = ""
    deadline = time.monotonic() + timeout
    while text not in said:
        left = deadline - time.monotonic()
        assert left > 0, f"watch did not say {text!r} within {timeout} s: {said!r}"
        if select.select([process.stderr], [], [], left)[0]:
            # The raw fd, not readline: a line held in a buffer would hide from select.
            said += os.read(process.stderr.fileno(), 4096).decode()
    return said


def _read_once_config(tmp_path: Path, broker, test_data: Path) -> Path:
    return write_config(
        tmp_path / "edgeeye.yaml",
        f"""
device_id: cam1
source: {{type: images, path: {test_data}/images, loop: false}}
model:
  path: {test_data}/models/mobilenet_v1_0.25_128_quant.tflite
  labels: {test_data}/models/imagenet_labels.txt
workers: 1
mqtt: {{host: 127.0.0.1, port: {broker.port}}}
""",
    )


def test_watch_json_prints_exactly_what_was_published(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#")
    watch = _watch(broker)
    appliance = appliance_factory(_read_once_config(tmp_path, broker, test_data))
    assert appliance.wait(60) == 0, appliance.stderr  # five photographs, read once
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    time.sleep(0.5)
    lines, _ = _stop(watch)
    seen = [(line["kind"], line["payload"]) for line in lines if line["device"] == "cam1"]
    published = [
        (m.topic.rsplit("/", 1)[1], m.payload.decode() if m.topic.endswith("/status")
         else json.loads(m.payload))
        for m in subscriber.received
    ]  # fmt: skip
    assert seen == published
    assert sum(kind == "result" for kind, _ in seen) == 5
    assert [p for kind, p in seen if kind == "status"] == ["online", "offline"]


def test_watch_rides_out_a_broker_restart(tmp_path, broker, test_data, appliance_factory):
    watch = _watch(broker)
    broker.stop()
    time.sleep(2)
    broker.start()
    # paho's backoff decides when watch is back (up to 10 s); results sent before that are
    # not retained, so the appliance starts once watch has said it is back.
    said = _stderr_until(watch, "is back", 30)
    appliance = appliance_factory(_read_once_config(tmp_path, broker, test_data))
    assert appliance.wait(60) == 0, appliance.stderr
    time.sleep(1.0)
    lines, rest = _stop(watch)
    err = said + rest
    results = [line for line in lines if line["device"] == "cam1" and line["kind"] == "result"]
    assert len(results) == 5
    assert err.count("is away; reconnecting") == 1 and "is back" in err, err

"""``edgeeye watch`` against a real broker and the real appliance."""

from __future__ import annotations

import json
import os
import random
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


def _result(label: object, score: object = 0.5) -> bytes:
    return json.dumps({"labels": [{"index": 89, "label": label, "score": score}]}).encode()


GOOD = {"labels": [{"index": 89, "label": "macaw", "score": 0.9}]}
#: (topic, payload, understood) after the probe: the messages issue 15 found watch dying
#: on, the escapes it printed raw, 1 MB of noise, then a good result.
HOSTILE = [
    ("edgeeye/cam1/result", json.dumps({"labels": [{"score": 0.5}]}).encode(), False),
    ("edgeeye/cam1/result", _result(7), False),
    ("edgeeye/cam2/result", _result("\x1b[2Jevil"), True),  # JSON's \u001b: an ESC once read
    ("edgeeye/cam2/result", b'{"labels": [{"label": "\x1b[2J", "score": 0.5}]}', False),  # raw
    ("edgeeye/cam1/status", b"\x1b]0;owned\x07\x1b[2Jonline", True),
    ("edgeeye/cam1/result", random.Random(15).randbytes(1 << 20), False),
    ("edgeeye/cam1/result", json.dumps(GOOD).encode(), True),
]
CLEAR = b"\x1b[H\x1b[2J"  # watch's own cursor codes, before each table


def _stdout_until(process: subprocess.Popen[bytes], text: bytes, timeout: float) -> bytes:
    said = b""
    deadline = time.monotonic() + timeout
    while text not in said:
        left = deadline - time.monotonic()
        assert left > 0, f"watch did not print {text!r} within {timeout} s: {said!r}"
        if select.select([process.stdout], [], [], left)[0]:
            said += os.read(process.stdout.fileno(), 65536)
    return said


def _publish_hostile(broker) -> None:
    publish.multiple([(topic, payload, 1, False) for topic, payload, _ in HOSTILE],
                     hostname="127.0.0.1", port=broker.port)  # fmt: skip


def test_watch_table_outlives_hostile_payloads_and_shows_the_good_result(broker):
    publish.single("edgeeye/probe/status", "online", qos=1, retain=True,
                   hostname="127.0.0.1", port=broker.port)  # fmt: skip
    process = subprocess.Popen(
        edgeeye_command("watch", "--port", str(broker.port), "--duration", "8"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    shown = _stdout_until(process, b"\nprobe ", 30)  # subscribed: the retained probe is in
    _publish_hostile(broker)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err  # --duration ran out: it stopped on its own terms
    tables = (shown + out).split(CLEAR)
    assert tables[0] == b"" and len(tables) > 3
    assert all(b"\x1b" not in table for table in tables), "an ESC from a payload was printed"
    *table, footer = tables[-1].decode().splitlines()
    rows = {line.split()[0]: line for line in table[1:]}
    assert rows["cam1"].split()[2:4] == ["macaw", "0.90"]
    assert rows["cam1"].split()[1].startswith("\\x1b]0;owned")  # the status, escaped
    assert rows["cam2"].split()[1:4] == ["?", "\\x1b[2Jevil", "0.50"]
    not_understood = sum(not understood for _, _, understood in HOSTILE)
    assert footer.startswith(f"{not_understood} messages not understood; the last,")
    assert footer.endswith("cam1/result: 1048576 bytes, over the 64 KiB read")
    assert b"failed" not in err, err


def test_watch_json_outlives_hostile_payloads_line_by_line(broker):
    watch = _watch(broker)
    _publish_hostile(broker)
    time.sleep(1.0)
    lines, err = _stop(watch)
    assert "failed" not in err, err
    kept = [line for line in lines if line["device"] in ("cam1", "cam2")]
    assert [(line["topic"], "not_understood" not in line) for line in kept] == [
        (topic, understood) for topic, _, understood in HOSTILE
    ]
    assert kept[2]["payload"]["labels"][0]["label"] == "\x1b[2Jevil"  # as published, in JSON
    assert kept[-1]["payload"] == GOOD


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

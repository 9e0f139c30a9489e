"""Home Assistant discovery and the payload schemas, checked on a real broker's wire.

Discovery configs are validated against JSON Schemas written from Home Assistant's MQTT
documentation (tests/schemas/), and their templates are rendered with Jinja, as Home
Assistant renders them, against the messages the appliance really published.  Every
payload edgeeye publishes is validated against schemas/.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import jinja2
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from tests.conftest import REPO, write_config

DEVICE = "cam.1"  # a '.' that Home Assistant's node ids do not allow: it becomes '_'
NODE = "edgeeye_cam_1"


def _validator(path: Path) -> Draft202012Validator:
    resources = [
        (p.name, Resource.from_contents(json.loads(p.read_text())))
        for p in (REPO / "tests" / "schemas").glob("*.json")
    ]
    return Draft202012Validator(
        json.loads(path.read_text()),
        registry=Registry().with_resources(resources),
        format_checker=FormatChecker(),
    )


def _config(tmp_path: Path, broker, test_data: Path, discovery: bool) -> Path:
    return write_config(
        tmp_path / "edgeeye.yaml",
        f"""
device_id: {DEVICE}
source: {{type: images, path: {test_data}/images, loop: true, fps: 20}}
model:
  path: {test_data}/models/mobilenet_v1_0.25_128_quant.tflite
  labels: {test_data}/models/imagenet_labels.txt
workers: 1
mqtt: {{host: 127.0.0.1, port: {broker.port}, stats_interval: 1}}
homeassistant: {{discovery: {str(discovery).lower()}}}
""",
    )


def _run_until(appliance_factory, subscriber, config: Path, results: int, stats: int):
    appliance = appliance_factory(config)
    subscriber.collect(
        lambda r: (
            sum(m.topic.endswith("/result") for m in r) >= results
            and sum(m.topic.endswith("/stats") for m in r) >= stats
        ),
        60,
    )
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    return appliance


def test_discovery_configs_are_retained_valid_and_render_the_published_state(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    live = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    _run_until(appliance_factory, live, _config(tmp_path, broker, test_data, True), 10, 3)
    # A subscriber that comes later (Home Assistant restarting) still gets every config.
    late = subscriber_factory(broker, "homeassistant/#")
    configs = late.collect(lambda r: len(r) >= 6, 10)
    assert sorted(m.topic for m in configs) == [
        f"homeassistant/binary_sensor/{NODE}/online/config",
        *(f"homeassistant/sensor/{NODE}/{name}/config"
          for name in ("fps", "frames_dropped", "label", "latency", "score")),
    ]  # fmt: skip
    assert all(m.retain for m in configs)
    last = {
        leaf: next(m.payload for m in reversed(live.received) if m.topic.endswith(f"/{leaf}"))
        for leaf in ("result", "stats", "status")
    }
    templates = jinja2.Environment(autoescape=False)
    rendered = {}
    for message in configs:
        component, object_id = message.topic.split("/")[1], message.topic.split("/")[3]
        document = json.loads(message.payload)
        schema = REPO / "tests" / "schemas" / f"homeassistant_{component}.schema.json"
        errors = [e.message for e in _validator(schema).iter_errors(document)]
        assert not errors, (message.topic, errors)
        assert document["device"]["identifiers"] == [NODE]
        assert document["unique_id"] == f"{NODE}_{object_id}"
        leaf = document["state_topic"].rsplit("/", 1)[1]
        if component == "sensor":
            assert document["availability_topic"] == f"edgeeye/{DEVICE}/status"
            value = json.loads(last[leaf])
            rendered[object_id] = templates.from_string(document["value_template"]).render(
                value_json=value
            )
        else:
            assert last["status"] == b"offline" and document["payload_off"] == "offline"
    result, stats = json.loads(last["result"]), json.loads(last["stats"])
    top = result["labels"][0]
    assert rendered["label"] == top["label"]
    assert rendered["score"] == str(round(top["score"] * 100, 1))
    assert rendered["fps"] == str(stats["fps"]) and rendered["latency"] == str(
        stats["latency_ms"]["p99"]
    )
    assert rendered["frames_dropped"] == str(stats["frames_dropped"])

    # Discovery turned off: the next start empties the retained configs (Home Assistant
    # removes the entities), and a later subscriber gets none.
    quiet = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    _run_until(appliance_factory, quiet, _config(tmp_path, broker, test_data, False), 1, 1)
    assert sum(1 for m in late.collect(lambda r: len(r) >= 12, 10)[6:] if m.payload == b"") == 6
    after = subscriber_factory(broker, "homeassistant/#")
    assert after.collect(lambda r: bool(r), 3) == []


def test_every_published_payload_validates_against_its_schema(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    _run_until(appliance_factory, subscriber, _config(tmp_path, broker, test_data, True), 20, 3)
    checked = dict.fromkeys(("result", "stats", "status"), 0)
    for message in subscriber.received:
        leaf = message.topic.rsplit("/", 1)[1]
        validator = _validator(REPO / "schemas" / f"{leaf}.schema.json")
        document = message.payload.decode() if leaf == "status" else json.loads(message.payload)
        errors = [e.message for e in validator.iter_errors(document)]
        assert not errors, (message.topic, message.payload[:300], errors)
        checked[leaf] += 1
    assert checked["result"] >= 20 and checked["stats"] >= 3 and checked["status"] == 2

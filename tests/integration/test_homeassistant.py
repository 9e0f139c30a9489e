"""Home Assistant discovery and the payload schemas, checked on a real broker's wire.

Discovery configs are validated against JSON Schemas written from Home Assistant's MQTT
documentation (tests/schemas/), and their templates are rendered with Jinja, as Home
Assistant renders them, against the messages the appliance really published.  Every
payload edgeeye publishes is validated against schemas/.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import jinja2
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import discovery_messages, node_id
from edgeeye.tools.launcher import edgeeye_command
from tests.support.configs import write_config
from tests.support.mqtt import Subscriber
from tests.support.paths import REPO
from tests.support.schemas import assert_matches_schema

# A '.', which Home Assistant's node ids do not allow: the node escapes it, so that cam.1
# and cam_1 (whose node is edgeeye_cam_1, as edgeeye 0.1.0 made cam.1's) stay apart.
DEVICE = "cam.1"
NODE = "edgeeye-cam-d1"
LEGACY_NODE = "edgeeye_cam_1"


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
    checked = dict.fromkeys(("result", "stats", "status", "settings"), 0)
    for message in subscriber.received:
        leaf = message.topic.rsplit("/", 1)[1]
        checked[leaf] += 1
        assert_matches_schema(leaf, message.payload)
    assert checked["result"] >= 20 and checked["stats"] >= 3 and checked["status"] == 2
    assert checked["settings"] == 1


def test_snapshot_and_remote_control_entities_drive_the_appliance(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    config = _config(tmp_path, broker, test_data, True)
    config.write_text(
        config.read_text()
        + "snapshot: {enabled: true}\n"
        + "remote_control: {enabled: true, allow: [min_score, publish, snapshot]}\n"
        + "publish: {mode: every_frame, hold_s: 0}\n"
    )
    live = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    appliance = appliance_factory(config)
    live.collect(lambda r: sum(m.topic.endswith("/snapshot") for m in r) >= 2, 60)
    configs = subscriber_factory(broker, "homeassistant/#").collect(lambda r: len(r) >= 10, 10)
    documents = {m.topic.split("/")[3]: json.loads(m.payload) for m in configs}
    assert sorted(m.topic.split("/")[1] for m in configs) == sorted(
        ["binary_sensor", *["sensor"] * 5, "image", "number", "select", "switch"]
    )
    for message in configs:
        component = message.topic.split("/")[1]
        schema = REPO / "tests" / "schemas" / f"homeassistant_{component}.schema.json"
        errors = [e.message for e in _validator(schema).iter_errors(json.loads(message.payload))]
        assert not errors, (message.topic, errors)
    # The image entity shows the snapshots we publish.
    assert documents["snapshot"]["image_topic"] == f"edgeeye/{DEVICE}/snapshot"
    assert live.on("/snapshot")[-1].payload[:3] == b"\xff\xd8\xff"
    # The controls read the settings topic as Home Assistant would...
    settings = json.loads(live.on("/settings")[-1].payload)
    render = jinja2.Environment(autoescape=False).from_string
    states = {
        name: render(documents[name]["value_template"]).render(value_json=settings)
        for name in ("min_score", "publish_mode", "snapshots")
    }
    assert states == {"min_score": "0.0", "publish_mode": "every_frame", "snapshots": "on"}
    # ...and a choice made there, sent on its command topic, changes the appliance.
    select = documents["publish_mode"]
    assert "on_change" in select["options"]
    mark = len(live.received)
    live.publish(select["command_topic"], "on_change")
    live.collect(lambda r: any(m.topic.endswith("/settings") for m in r[mark:]), 10)
    changed = json.loads(live.on("/settings")[-1].payload)
    assert render(select["value_template"]).render(value_json=changed) == "on_change"
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr


def _forget(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = edgeeye_command("forget", "--config", str(config), *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_forget_removes_a_decommissioned_device_everywhere(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    config = _config(tmp_path, broker, test_data, True)
    config.write_text(config.read_text() + "snapshot: {enabled: true, retain: true}\n")
    live = subscriber_factory(broker, "#")
    appliance = appliance_factory(config)
    live.collect(lambda r: any(m.topic.endswith("/snapshot") for m in r), 60)

    # While it runs, forget refuses (it would publish everything again at its next connect).
    refused = _forget(config)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().endswith("or use --force")
    assert f"device {DEVICE} is online on broker 127.0.0.1:{broker.port}" in refused.stderr

    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    before = subscriber_factory(broker, "#").collect(lambda r: len(r) >= 11, 10)
    retained = sorted(m.topic for m in before if m.retain)
    assert len(retained) == 11  # 7 discovery configs, status, stats, settings, snapshot
    done = _forget(config)
    assert done.returncode == 0, done.stderr
    cleared = [line.removeprefix("cleared ") for line in done.stdout.splitlines()]
    assert set(retained) <= set(cleared)
    # Home Assistant, subscribed all along, got the empty configs that remove the entities.
    empties = {m.topic for m in live.collect(lambda r: False, 2) if m.payload == b""}
    assert {t for t in retained if t.startswith("homeassistant/")} <= empties
    # And nothing of the device is left for anyone who subscribes later.
    assert subscriber_factory(broker, "#").collect(lambda r: bool(r), 3) == []


def test_forget_names_a_broker_it_cannot_reach(tmp_path, broker, test_data):
    config = _config(tmp_path, broker, test_data, True)
    broker.stop()
    result = _forget(config)
    assert result.returncode == 8
    assert result.stderr.strip().splitlines()[-1] == (
        f"edgeeye: error: broker 127.0.0.1:{broker.port}: cannot connect: Connection refused"
    )


def _publish_retained(broker, messages: list[tuple[str, bytes]]) -> None:
    publisher = Subscriber(broker, "edgeeye/none")
    for topic, payload in messages:
        publisher.publish(topic, payload, retain=True)
    publisher.close()


def _discovery_of(device: str, node: str | None = None) -> list[tuple[str, bytes]]:
    """The retained configs edgeeye publishes for ``device`` (discovery on, remote control
    off), under ``node`` instead of its own if given: what edgeeye 0.1.0, whose node ids
    mapped '.' to '_', published."""
    config = AppConfig(device_id=device)
    own = node_id(config)
    messages = [(t, p) for t, p in discovery_messages(config, "mobilenet_v1_0.25_128_quant") if p]
    if node is None:
        return messages
    return [(t.replace(own, node), p.replace(own.encode(), node.encode())) for t, p in messages]


def _configs_under(broker, subscriber_factory, node: str) -> dict[str, bytes]:
    late = subscriber_factory(broker, f"homeassistant/+/{node}/+/config")
    return {m.topic: bytes(m.payload) for m in late.collect(lambda r: False, 1.5)}


def test_forget_refuses_a_node_that_another_device_uses(
    tmp_path, broker, test_data, subscriber_factory
):
    """cam_1 is online; cam.1 ran edgeeye 0.1.0, whose node for it was cam_1's.  Forgetting
    cam.1 must not clear that node, whose configs are cam_1's."""
    cam_1 = _discovery_of("cam_1")
    assert {t.split("/")[2] for t, _ in cam_1} == {LEGACY_NODE}
    _publish_retained(broker, [*cam_1, ("edgeeye/cam_1/status", b"online")])
    refused = _forget(_config(tmp_path, broker, test_data, True))
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"edgeeye: error: device {DEVICE}: homeassistant/binary_sensor/{LEGACY_NODE}/online/config"
        " belongs to another device (its state_topic is edgeeye/cam_1/status, not under"
        f" edgeeye/{DEVICE}/): nothing cleared"
    )
    assert _configs_under(broker, subscriber_factory, LEGACY_NODE) == dict(cam_1)
    # The other way round: cam_1 forgotten while cam.1's 0.1.0 configs hold that node.
    # (the same topics: whichever published last holds them)
    old_cam_dot_1 = _discovery_of(DEVICE, node=LEGACY_NODE)
    _publish_retained(broker, [*old_cam_dot_1, ("edgeeye/cam_1/status", b"offline")])
    refused = _forget(_config(tmp_path, broker, test_data, True), "--device-id", "cam_1")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"edgeeye: error: device cam_1: homeassistant/binary_sensor/{LEGACY_NODE}/online/config"
        f" belongs to another device (its state_topic is edgeeye/{DEVICE}/status, not under"
        " edgeeye/cam_1/): nothing cleared"
    )
    assert _configs_under(broker, subscriber_factory, LEGACY_NODE) == dict(old_cam_dot_1)


def test_forget_also_clears_what_edgeeye_0_1_0_left_under_the_old_node(
    tmp_path, broker, test_data, subscriber_factory
):
    """cam.1 upgraded: its configs are under its own node now, and 0.1.0's under the old
    one (pointing at cam.1's topics) are its own leftovers, which forget clears too."""
    own, old = _discovery_of(DEVICE), _discovery_of(DEVICE, node=LEGACY_NODE)
    _publish_retained(broker, [*own, *old, (f"edgeeye/{DEVICE}/status", b"offline")])
    assert len(_configs_under(broker, subscriber_factory, LEGACY_NODE)) == len(old) == 6
    done = _forget(_config(tmp_path, broker, test_data, True))
    assert done.returncode == 0, done.stderr
    cleared = {line.removeprefix("cleared ") for line in done.stdout.splitlines()}
    assert {t for t, _ in own + old} <= cleared
    assert subscriber_factory(broker, "#").collect(lambda r: bool(r), 3) == []

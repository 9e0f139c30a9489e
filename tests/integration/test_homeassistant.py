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

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import discovery_messages, node_id
from edgeeye.tools.launcher import edgeeye_command
from tests.support.appliance import run_to_end
from tests.support.configs import write_config
from tests.support.discovery import ha_errors, retained_entity_configs
from tests.support.mqtt import Subscriber
from tests.support.schemas import assert_matches_schema

# A '.', which Home Assistant's node ids do not allow: the node escapes it, so that cam.1
# and cam_1 (whose node is edgeeye_cam_1, as edgeeye 0.1.0 made cam.1's) stay apart.
DEVICE = "cam.1"
NODE = "edgeeye-cam-d1"
LEGACY_NODE = "edgeeye_cam_1"


DEVICE_TOPIC = f"homeassistant/device/{NODE}/config"


def _config(
    tmp_path: Path, broker, test_data: Path, discovery: bool, discovery_format: str = "device"
) -> Path:
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
homeassistant: {{discovery: {str(discovery).lower()}, discovery_format: {discovery_format}}}
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


def _components(message) -> dict[str, dict]:
    document = json.loads(message.payload)
    assert ha_errors("device", document) == [], message.topic
    assert document["device"]["identifiers"] == [NODE]
    return {k: c for k, c in document["components"].items() if set(c) != {"platform"}}


def test_discovery_configs_are_retained_valid_and_render_the_published_state(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    live = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    _run_until(appliance_factory, live, _config(tmp_path, broker, test_data, True), 10, 3)
    # A subscriber that comes later (Home Assistant restarting) still gets the config: one,
    # for the whole device; the entity topics were emptied after the hand-over.
    late = subscriber_factory(broker, "homeassistant/#")
    (device,) = late.collect(lambda r: len(r) >= 1, 10)
    assert (device.topic, device.retain) == (DEVICE_TOPIC, True)
    components = _components(device)
    assert sorted(components) == ["fps", "frames_dropped", "label", "latency", "online", "score"]
    last = {
        leaf: next(m.payload for m in reversed(live.received) if m.topic.endswith(f"/{leaf}"))
        for leaf in ("result", "stats", "status")
    }
    templates = jinja2.Environment(autoescape=False)
    rendered = {}
    for key, component in components.items():
        assert component["unique_id"] == f"{NODE}_{key}"
        leaf = component["state_topic"].rsplit("/", 1)[1]
        if component["platform"] == "sensor":
            assert component["availability_topic"] == f"edgeeye/{DEVICE}/status"
            value = json.loads(last[leaf])
            rendered[key] = templates.from_string(component["value_template"]).render(
                value_json=value
            )
        else:
            assert last["status"] == b"offline" and component["payload_off"] == "offline"
    result, stats = json.loads(last["result"]), json.loads(last["stats"])
    top = result["labels"][0]
    assert rendered["label"] == top["label"]
    assert rendered["score"] == str(top["score"])  # 0-1, as in the result
    assert rendered["fps"] == str(stats["fps"]) and rendered["latency"] == str(
        stats["latency_ms"]["p99"]
    )
    assert rendered["frames_dropped"] == str(stats["frames_dropped"])

    # Discovery turned off: the next start empties the retained config (Home Assistant
    # removes the entities), and a later subscriber gets none.
    quiet = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    mark = len(late.received)
    _run_until(appliance_factory, quiet, _config(tmp_path, broker, test_data, False), 1, 1)
    emptied = late.collect(lambda r: any(m.topic == DEVICE_TOPIC for m in r[mark:]), 10)[mark:]
    assert [m.payload for m in emptied if m.topic == DEVICE_TOPIC] == [b""]
    after = subscriber_factory(broker, "homeassistant/#")
    assert after.collect(lambda r: bool(r), 3) == []


def test_an_installation_with_per_entity_configs_is_moved_over_keeping_its_entities(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    """What an earlier release left: one retained config per entity.  The device config
    must come after a migrate_discovery on each of those topics, carry the same unique
    ids, and be followed by their removal; and back again with discovery_format: entity."""
    old = retained_entity_configs(
        discovery_messages(
            AppConfig(device_id=DEVICE, homeassistant={"discovery_format": "entity"}),
            "mobilenet_v1_0.25_128_quant",
        )
    )
    old_ids = {json.loads(p)["unique_id"] for _, p in old}
    _publish_retained(broker, old)
    home_assistant = subscriber_factory(broker, "homeassistant/#")
    home_assistant.collect(lambda r: len(r) >= len(old), 5)
    mark = len(home_assistant.received)
    live = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    _run_until(appliance_factory, live, _config(tmp_path, broker, test_data, True), 3, 1)
    arrived = home_assistant.collect(lambda r: False, 1)[mark:]
    order = {(m.topic, m.payload or b"<empty>"): n for n, m in enumerate(arrived)}
    (device_at,) = [n for (topic, _), n in order.items() if topic == DEVICE_TOPIC]
    for topic, _ in old:
        migrate = order[(topic, b'{"migrate_discovery": true}')]
        assert ha_errors("migrate", json.loads(arrived[migrate].payload)) == []
        assert migrate < device_at < order[(topic, b"<empty>")]
    assert {c["unique_id"] for c in _components(arrived[device_at]).values()} == old_ids
    # Nothing but the device config is left for a Home Assistant that starts later.
    late = subscriber_factory(broker, "homeassistant/#").collect(lambda r: False, 1.5)
    assert [m.topic for m in late] == [DEVICE_TOPIC]

    # Back to per-entity configs (an older Home Assistant): the same hand-over reversed.
    mark = len(home_assistant.received)
    entity_config = _config(tmp_path, broker, test_data, True, discovery_format="entity")
    again = subscriber_factory(broker, f"edgeeye/{DEVICE}/#")
    _run_until(appliance_factory, again, entity_config, 3, 1)
    back = home_assistant.collect(lambda r: False, 1)[mark:]
    assert (back[0].topic, back[0].payload) == (DEVICE_TOPIC, b'{"migrate_discovery": true}')
    assert (back[-1].topic, back[-1].payload) == (DEVICE_TOPIC, b"")
    singles = {m.topic: json.loads(m.payload) for m in back[1:-1] if m.payload}
    assert sorted(singles) == sorted(topic for topic, _ in old)
    for topic, document in singles.items():
        assert ha_errors(topic.split("/")[1], document) == [], topic
    assert {d["unique_id"] for d in singles.values()} == old_ids


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
    (device,) = subscriber_factory(broker, "homeassistant/#").collect(lambda r: len(r) >= 1, 10)
    documents = _components(device)
    assert sorted(c["platform"] for c in documents.values()) == sorted(
        ["binary_sensor", *["sensor"] * 5, "image", "number", "select", "switch"]
    )
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
    before = subscriber_factory(broker, "#").collect(lambda r: len(r) >= 5, 10)
    retained = sorted(m.topic for m in before if m.retain)
    assert len(retained) == 5  # the device config, status, stats, settings, snapshot
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
    """The retained per-entity configs edgeeye published for ``device`` (discovery on,
    remote control off), under ``node`` instead of its own if given: what edgeeye 0.1.0,
    whose node ids mapped '.' to '_', published."""
    config = AppConfig(device_id=device, homeassistant={"discovery_format": "entity"})
    own = node_id(config)
    messages = retained_entity_configs(discovery_messages(config, "mobilenet_v1_0.25_128_quant"))
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


def test_a_detectors_regions_and_presence_entities_render_what_was_published(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    """Every component of the device config, rendered as Home Assistant would against
    the last message on its state topic, says what that message says."""
    from tests.support.configs import detector_config, photo_sequence

    folder = photo_sequence(tmp_path / "scene", test_data, ["grace_hopper.bmp"] * 3)
    config = detector_config(
        tmp_path,
        broker.port,
        test_data,
        f"{{type: images, path: {folder}, loop: false}}",
        "regions:\n  left: {box: [0, 0, 0.5, 1]}\n  right: {box: [0.5, 0, 1, 1]}\n"
        "presence:\n  - {label: person, frames: 2, off_s: 60}\n"
        "  - {label: tie, region: right, frames: 1, off_s: 60}\n",
        workers=1,
    )
    config.write_text(config.read_text().replace("discovery: false", "discovery: true"))
    live = subscriber_factory(broker, "#")
    run_to_end(appliance_factory, config, live)
    (device,) = [m for m in live.received if m.topic == "homeassistant/device/edgeeye_cam1/config"]
    components = _components_of(device)
    render = jinja2.Environment(autoescape=False).from_string
    last = {}
    for message in live.received:
        last[message.topic] = message.payload
    result = json.loads(last["edgeeye/cam1/result"])

    def state(key: str) -> str:
        component = components[key]
        document = json.loads(last[component["state_topic"]])
        return render(component["value_template"]).render(value_json=document)

    assert state("detections") == str(len(result["detections"]))
    assert state("region_left_label") == result["regions"]["left"]["labels"][0]["label"]
    assert state("region_right_count") == str(sum(result["regions"]["right"]["counts"].values()))
    assert state("presence_person") == "on" and state("presence_right_tie") == "on"
    event = components["presence_right_tie_event"]
    (arrival,) = [json.loads(m.payload) for m in live.received if m.topic == event["state_topic"]]
    assert arrival["event_type"] in event["event_types"] and arrival["event_type"] == "arrived"
    for component in components.values():
        assert component["state_topic"].startswith("edgeeye/cam1/")


def _components_of(message) -> dict[str, dict]:
    document = json.loads(message.payload)
    assert ha_errors("device", document) == []
    return {k: c for k, c in document["components"].items() if set(c) != {"platform"}}

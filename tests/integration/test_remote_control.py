"""Remote control on the real appliance: commands on set/... change what it publishes,
without a restart; anything else is refused on error/."""

from __future__ import annotations

import json
import signal

import paho.mqtt.client as mqtt

from tests.support.configs import photo_config
from tests.support.schemas import assert_matches_schema

PREFIX = "edgeeye/cam1"


def _settings(subscriber) -> list[dict]:
    return [json.loads(m.payload) for m in subscriber.on("/settings")]


def _command(subscriber, leaf: str, payload: str, check, retain: bool = False) -> None:
    """Send set/<leaf> and wait for the settings (or error) it should produce."""
    before = len(subscriber.received)
    subscriber.publish(f"{PREFIX}/set/{leaf}", payload, retain=retain)
    subscriber.collect(lambda r: any(check(m) for m in r[before:]), 10)
    assert any(check(m) for m in subscriber.received[before:]), f"no answer to set/{leaf}"


def _new_settings(predicate):
    return lambda m: m.topic.endswith("/settings") and predicate(json.loads(m.payload))


def _results_since(subscriber, position: int) -> list[dict]:
    return [
        json.loads(m.payload) for m in subscriber.received[position:] if m.topic.endswith("/result")
    ]


def test_remote_settings_change_behaviour_and_bad_ones_are_refused(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    source = f"{{type: images, path: {test_data}/images/parrot.jpg, loop: true, fps: 10}}"
    extra = (
        "remote_control: {enabled: true, allow: [min_score, publish, snapshot]}\n"
        "publish: {hold_s: 0}"
    )
    config = photo_config(tmp_path, broker.port, test_data, source, extra, mqtt="protocol: 5")
    subscriber = subscriber_factory(broker, f"{PREFIX}/#", protocol=mqtt.MQTTv5)
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r) >= 10, 60)
    assert _settings(subscriber)[0]["publish"]["mode"] == "every_frame"
    assert _settings(subscriber)[0]["remote_control"] is True

    # every_frame -> on_change: from ten a second to the one change.
    _command(
        subscriber,
        "publish/mode",
        "on_change",
        _new_settings(lambda s: s["publish"]["mode"] == "on_change"),
    )
    mark = len(subscriber.received)
    subscriber.drain(2.0)
    assert [r["reason"] for r in _results_since(subscriber, mark)] in ([], ["change"])

    # min_score above anything a quantized model scores: the state becomes "nothing".
    _command(subscriber, "min_score", "1", _new_settings(lambda s: s["min_score"] == 1.0))
    mark = len(subscriber.received)
    subscriber.drain(1.5)
    assert [r["labels"] for r in _results_since(subscriber, mark)][-1:] in ([], [[]])

    # snapshots on, then the parrot back: one change, with its JPEG.
    _command(subscriber, "snapshot", "on", _new_settings(lambda s: s["snapshot"] is True))
    mark = len(subscriber.received)
    _command(
        subscriber,
        "publish",
        '{"mode": "on_change", "hold_s": 0.5}',
        _new_settings(lambda s: s["publish"]["hold_s"] == 0.5),
    )
    _command(subscriber, "min_score", "0.2", lambda m: m.topic.endswith("/snapshot"))
    changes = _results_since(subscriber, mark)
    assert changes[-1]["labels"][0]["label"] == "macaw" and changes[-1]["reason"] == "change"

    # Refused: out of range, not remotely settable, retained, malformed JSON.
    for leaf, payload, retain, words in [
        ("min_score", "2", False, "set/min_score: '2' is not allowed"),
        ("model/path", "/tmp/evil.tflite", False, "not a setting that can be changed remotely"),
        ("snapshot", "off", True, "retained commands are ignored"),
        ("publish", "{mode: on_change", False, "must be a JSON object"),
    ]:
        _command(subscriber, leaf, payload, lambda m: m.topic.endswith("/error"), retain=retain)
        error = json.loads(subscriber.on("/error")[-1].payload)
        assert_matches_schema("error", subscriber.on("/error")[-1].payload)
        assert words in error["error"] and error["topic"] == f"{PREFIX}/set/{leaf}"
        assert subscriber.on("/error")[-1].properties.ContentType == "application/json"
    assert _settings(subscriber)[-1]["min_score"] == 0.2  # nothing refused was applied
    assert _settings(subscriber)[-1]["snapshot"] is True

    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    assert appliance.stderr.count("remote setting rejected") == 4
    subscriber.publish(f"{PREFIX}/set/snapshot", "", retain=True)  # clear the retained one


def test_without_remote_control_commands_are_ignored(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    source = f"{{type: images, path: {test_data}/images/parrot.jpg, loop: true, fps: 10}}"
    config = photo_config(tmp_path, broker.port, test_data, source)
    subscriber = subscriber_factory(broker, f"{PREFIX}/#")
    appliance = appliance_factory(config)
    subscriber.collect(lambda r: sum(m.topic.endswith("/result") for m in r) >= 5, 60)
    subscriber.publish(f"{PREFIX}/set/min_score", "1")
    mark = len(subscriber.received)
    subscriber.drain(1.5)
    recent = _results_since(subscriber, mark)
    assert len(recent) >= 5 and all(r["labels"] for r in recent)  # still labelled
    assert subscriber.on("/error") == [] and len(_settings(subscriber)) == 1
    assert _settings(subscriber)[0]["remote_control"] is False
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr

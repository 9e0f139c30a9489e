"""Config validation: every bad input is one line naming key, line, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeeye.config.app import load_config
from edgeeye.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "edgeeye.yaml"
    path.write_text(text)
    return load_config(path, environ=environ or {})


def test_documented_default_file_equals_the_built_in_defaults():
    assert load_config(REPO / "configs" / "edgeeye.yaml", environ={}) == load_config(
        None, environ={}
    )


def test_defaults_resolve_workers_slots_and_client_id():
    config = load_config(None, environ={})
    assert config.worker_count >= 1
    assert config.slot_count == config.worker_count + 2
    assert config.client_id == "edgeeye-edgeeye"
    assert config.topic("result") == "edgeeye/edgeeye/result"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("device_id: cam/1\n", r"line 1: device_id: 'cam/1' is not allowed: .*no '/'"),
        ("device_id: 'cam+'\n", r"line 1: device_id: 'cam\+' is not allowed"),
        ("device_id: '#'\n", r"line 1: device_id: '#' is not allowed"),
        ("mqtt:\n  port: 1883\n  bogus: 3\n", r"line 3: mqtt.bogus: unknown key \(allowed: host"),
        ("colour: red\n", r"line 1: colour: unknown key \(allowed: device_id, source"),
        ("mqtt:\n  port: 70000\n", r"line 2: mqtt.port: 70000 is not allowed: must be less"),
        ("mqtt:\n  qos: 3\n", r"line 2: mqtt.qos: 3 is not allowed"),
        ("mqtt:\n  topic_prefix: 'a/#'\n", r"line 2: mqtt.topic_prefix: 'a/#' is not allowed"),
        ("workers: abc\n", r"line 1: workers: 'abc' is not allowed: must be a whole number"),
        ("workers: 0\n", r"line 1: workers: 0 is not allowed: must be a whole number from 1"),
        ("ring:\n  slots: 1\n", r"line 2: ring.slots: 1 is not allowed"),
        ("model:\n  top_k: x\n", r"line 2: model.top_k: 'x' is not allowed: must be a valid"),
        ("model:\n  min_score: 2\n", r"line 2: model.min_score: 2 is not allowed"),
        ("source:\n  type: webcam\n", r"line 2: source.type: 'webcam' is not allowed: must be one"),
        ("source:\n  width: 100\n", r"source.type: required key is missing"),
        ("source:\n  type: images\n", r"line 2: source.path: required key is missing|source.path"),
        ("source:\n  type: synthetic\n  width: 5\n", r"line 3: source.width: 5 is not allowed"),
        ("source: {type: synthetic, fps: -1}\n", r"line 1: source.fps: -1 is not allowed"),
        ("logging: {level: LOUD}\n", r"line 1: logging.level: 'LOUD' is not allowed"),
        ("mqtt:\n  protocol: 4\n", r"line 2: mqtt.protocol: '4' is not allowed: must be '5'"),
        ("mqtt:\n  message_expiry_s: -5\n", r"line 2: mqtt.message_expiry_s: -5 is not"),
        ("publish:\n  mode: often\n", r"line 2: publish.mode: 'often' is not allowed"),
        ("publish:\n  hold_s: -1\n", r"line 2: publish.hold_s: -1 is not allowed"),
        ("publish:\n  include: cat\n", r"line 2: publish.include: 'cat' is not allowed"),
        ("snapshot:\n  quality: 100\n", r"line 2: snapshot.quality: 100 is not allowed"),
        ("snapshot:\n  size: 3\n", r"line 2: snapshot.size: unknown key \(allowed: enabled"),
        ("remote_control: {enabled: maybe}\n", r"line 1: remote_control.enabled: 'maybe'"),
        ("- a\n- b\n", r"line 1: the config must be a mapping"),
        ("mqtt: [\n", r"invalid YAML"),
        (
            "model:\n  path: nothere.tflite\n  labels: x.txt\n",
            r"line 2: model.path: .*no such file",
        ),
    ],
)
def test_bad_values_name_key_line_value_and_allowed(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "edgeeye.yaml"))


def test_missing_labels_file_is_named(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"line 3: model.labels: 'nope.txt' .*no such file"):
        _load(tmp_path, "model:\n  path: m.tflite\n  labels: nope.txt\n")


def test_model_path_alone_is_accepted_labels_may_come_from_the_model(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"x")
    assert _load(tmp_path, "model:\n  path: m.tflite\n").model.labels is None


def test_relative_model_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"x")
    (tmp_path / "l.txt").write_text("a\n")
    config = _load(tmp_path, "model: {path: m.tflite, labels: l.txt}\n")
    assert config.model.path == tmp_path / "m.tflite"
    assert config.model.labels == tmp_path / "l.txt"


def test_environment_overrides_and_their_errors(tmp_path):
    env = {
        "EDGEEYE_MQTT_HOST": "broker.lan",
        "EDGEEYE_MQTT_PORT": "1884",
        "EDGEEYE_DEVICE_ID": "porch",
    }
    config = _load(tmp_path, "device_id: garden\nmqtt: {port: 1883}\n", env)
    assert (config.mqtt.host, config.mqtt.port, config.device_id) == ("broker.lan", 1884, "porch")
    with pytest.raises(ConfigError, match=r"device_id \(from \$EDGEEYE_DEVICE_ID\): 'a/b'"):
        _load(tmp_path, "", {"EDGEEYE_DEVICE_ID": "a/b"})


def test_config_is_frozen():
    config = load_config(None, environ={})
    with pytest.raises(Exception, match="frozen"):
        config.device_id = "x"


def test_unreadable_config_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config: No such file"):
        load_config(tmp_path / "absent.yaml", environ={})

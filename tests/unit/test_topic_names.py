"""Names from outside that reach topics: refused in the config, slugged from label files,
so nothing can publish outside ``<prefix>/<device_id>/`` (rule: edgeeye.config.topic_names)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeeye.config.app import load_config
from edgeeye.config.topic_names import SLUG_CHARS, is_topic_level, slug
from edgeeye.errors import ConfigError
from edgeeye.homeassistant.discovery import discovery_messages
from edgeeye.inference.results import Task

HOSTILE = [
    "a/b",
    "+",
    "#",
    "cam/#",
    "\x00",
    "cam\x00x",
    "cam1\n",
    "\ncam1",
    " cam",
    "cam 1",
    ".",
    "..",
    "../x",
    "é",
    "cam\u202e1",
    "\u200bcam",
    "\uff43\uff41\uff4d",
    "x" * 65,
    "",
    "$SYS",
]


def _load(tmp_path: Path, document: dict, environ: dict[str, str] | None = None):
    path = tmp_path / "edgeeye.yaml"
    path.write_text(json.dumps(document, indent=1))  # JSON is YAML, and quotes anything
    return load_config(path, environ=environ or {})


def _valid_topic(topic: str) -> bool:
    levels = topic.split("/")
    return (
        "+" not in topic
        and "#" not in topic
        and "\x00" not in topic
        and len(topic.encode()) <= 65_535
        and all(level not in ("", ".", "..") for level in levels)
        and all(char.isprintable() for char in topic)
    )


@pytest.mark.parametrize("device_id", HOSTILE)
def test_a_device_id_that_is_not_a_plain_topic_level_is_refused_naming_the_key(tmp_path, device_id):
    with pytest.raises(ConfigError, match=r"device_id.*line 2"):
        _load(tmp_path, {"device_id": device_id})


@pytest.mark.parametrize("device_id", ["cam1\n", "a/b", "#"])
def test_a_device_id_from_the_environment_is_held_to_the_same_rule(tmp_path, device_id):
    with pytest.raises(ConfigError, match=r"EDGEEYE_DEVICE_ID|device_id"):
        _load(tmp_path, {}, environ={"EDGEEYE_DEVICE_ID": device_id})


@pytest.mark.parametrize("prefix", ["a//b", "a/+", "/a", "a/", "a/#", "a/b/c/d/e", "é", "a\n"])
def test_a_topic_prefix_with_an_empty_level_or_a_wildcard_is_refused(tmp_path, prefix):
    with pytest.raises(ConfigError, match=r"mqtt\.topic_prefix"):
        _load(tmp_path, {"mqtt": {"topic_prefix": prefix}})


@pytest.mark.parametrize("name", [n for n in HOSTILE if n] + ["Door", "door-1", "d" * 33])
def test_a_region_name_that_is_not_a_plain_level_is_refused(tmp_path, name):
    region = {name: {"box": [0.0, 0.0, 0.5, 0.5]}}
    with pytest.raises(ConfigError, match="regions"):
        _load(tmp_path, {"regions": region})


def test_plain_names_are_accepted_as_they_are(tmp_path):
    config = _load(tmp_path, {"device_id": "Cam-1.garage", "mqtt": {"topic_prefix": "home/eye"}})
    assert config.topic("result") == "home/eye/Cam-1.garage/result"
    assert is_topic_level("Cam-1.garage") and not is_topic_level("cam1\n")


@given(st.text(max_size=300))
def test_any_label_becomes_a_short_plain_slug(text):
    made = slug(text)
    assert 1 <= len(made) <= SLUG_CHARS
    assert made == "label" or (made[0] != "_" and made[-1] != "_")
    assert set(made) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


# Labels as a label file may hold them (control characters are refused as config values).
LABELS = ["a/b", "+x", "#y", "../..z", "\u00e9", "x" * 200, "cam\u202e1", "$SYS/broker", "Person"]


def test_presence_on_hostile_labels_publishes_only_inside_the_device_and_discovery_trees(
    tmp_path,
):
    document = {
        "device_id": "cam1",
        "presence": [{"label": label} for label in LABELS],
        "homeassistant": {"discovery": True},
    }
    config = _load(tmp_path, document)
    keys = [entry.key for entry in config.presence]
    assert keys == ["a_b", "x", "y", "z", "label", "x" * 32, "cam_1", "sys_broker", "person"]
    topics = [config.topic(f"presence/{key}") for key in keys]
    topics += [config.topic(f"presence/{key}/event") for key in keys]
    for task in (Task.CLASSIFY, Task.DETECT):
        topics += [message.topic for message in discovery_messages(config, "model", task)]
    for topic in topics:
        assert _valid_topic(topic), topic
        assert topic.startswith(("edgeeye/cam1/", "homeassistant/")), topic
    assert "edgeeye/cam1/presence/person" in topics
    assert all(len(key) <= SLUG_CHARS for key in keys)


def test_two_labels_with_one_slug_are_refused_rather_than_sharing_a_topic(tmp_path):
    with pytest.raises(ConfigError, match=r"line \d+: presence\.1: is 'a_b', as presence\.0"):
        _load(tmp_path, {"presence": [{"label": "a/b"}, {"label": "a+b"}]})

"""Which Home Assistant entities a config offers: no control for a setting the appliance
would refuse to change (``remote_control.allow``), no picture it could not take."""

from __future__ import annotations

import json

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import discovery_messages


def _offered(config: dict) -> set[str]:
    messages = discovery_messages(AppConfig.model_validate(config), "model")
    return {topic.split("/")[1] + ":" + topic.split("/")[3] for topic, body in messages if body}


def test_remote_control_offers_only_the_controls_its_allow_list_names():
    base = {"remote_control": {"enabled": True}}
    offered = _offered(base)
    assert {"number:min_score", "select:publish_mode"} <= offered
    assert "switch:snapshots" not in offered and "image:snapshot" not in offered

    allowed = {"remote_control": {"enabled": True, "allow": ["snapshot"]}}
    offered = _offered(allowed)
    assert {"switch:snapshots", "image:snapshot"} <= offered
    assert "number:min_score" not in offered and "select:publish_mode" not in offered


def test_snapshots_on_in_the_yaml_offer_the_picture_without_the_switch():
    offered = _offered({"snapshot": {"enabled": True}})
    assert "image:snapshot" in offered and "switch:snapshots" not in offered
    config = AppConfig.model_validate({"snapshot": {"enabled": True}})
    removed = [t for t, body in discovery_messages(config, "model") if not body]
    assert any(t.endswith("/snapshots/config") for t in removed)  # an old switch goes
    assert all(json.loads(b) for _, b in discovery_messages(config, "model") if b)

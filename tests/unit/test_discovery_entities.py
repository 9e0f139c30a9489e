"""Which Home Assistant entities a config offers: no control for a setting the appliance
would refuse to change (``remote_control.allow``), no picture it could not take; those a
detector, regions and presence entries add; and every config valid by Home Assistant's
documented schema, in both formats."""

from __future__ import annotations

import json

import jinja2

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import config_topic, device_topic, discovery_messages
from edgeeye.homeassistant.entities import BASE_ENTITIES
from edgeeye.inference.results import Task
from tests.support.discovery import device_config, ha_errors, offered


def _offered(config: dict) -> set[str]:
    return {
        f"{c['platform']}:{key}" for key, c in offered(AppConfig.model_validate(config)).items()
    }


def test_remote_control_offers_only_the_controls_its_allow_list_names():
    base = {"remote_control": {"enabled": True}}
    assert {"number:min_score", "select:publish_mode"} <= _offered(base)
    assert "switch:snapshots" not in _offered(base) and "image:snapshot" not in _offered(base)

    allowed = {"remote_control": {"enabled": True, "allow": ["snapshot"]}}
    assert {"switch:snapshots", "image:snapshot"} <= _offered(allowed)
    assert "number:min_score" not in _offered(allowed)
    assert "select:publish_mode" not in _offered(allowed)


def test_snapshots_on_in_the_yaml_offer_the_picture_without_the_switch():
    config = AppConfig.model_validate({"snapshot": {"enabled": True}})
    assert "image:snapshot" in _offered({"snapshot": {"enabled": True}})
    # The switch an earlier config may have made is removed: its platform alone.
    assert device_config(config)["components"]["snapshots"] == {"platform": "switch"}


SCENE = {
    "device_id": "garden-cam",
    "regions": {"door": {"box": [0, 0, 0.5, 1]}, "drive": {"box": [0.5, 0, 1, 1]}},
    "presence": [{"label": "person", "region": "door"}, {"label": "traffic light"}],
}


def test_a_detector_with_regions_and_presence_offers_their_entities():
    config = AppConfig.model_validate(SCENE)
    entities = offered(config, Task.DETECT)
    assert {key: c["platform"] for key, c in entities.items() if key not in _base()} == {
        "detections": "sensor",
        "region_door_label": "sensor",
        "region_door_count": "sensor",
        "region_drive_label": "sensor",
        "region_drive_count": "sensor",
        "presence_door_person": "binary_sensor",
        "presence_door_person_event": "event",
        "presence_traffic_light": "binary_sensor",
        "presence_traffic_light_event": "event",
    }
    door = entities["presence_door_person"]
    assert door["state_topic"] == "edgeeye/garden-cam/presence/door_person"
    assert entities["presence_door_person_event"]["event_types"] == ["arrived", "departed"]
    assert entities["presence_door_person_event"]["state_topic"].endswith("/door_person/event")
    # A classifier has no counts: a label per region only.
    assert "region_door_count" not in offered(config) and "detections" not in offered(config)


def _base() -> set[str]:
    return {entity.object_id for entity in BASE_ENTITIES}


def test_every_config_is_valid_and_asks_for_a_valid_entity_id_in_both_formats():
    """garden-cam: a '-' in the device id, which entity ids do not allow."""
    config = AppConfig.model_validate(SCENE)
    document = device_config(config, Task.DETECT)
    assert ha_errors("device", document) == []
    for key, component in document["components"].items():
        if set(component) == {"platform"}:
            continue
        assert component["default_entity_id"] == (
            f"{component['platform']}.edgeeye_garden_cam_{key}"
        )
    per_entity = AppConfig.model_validate(
        {**SCENE, "homeassistant": {"discovery_format": "entity"}}
    )
    singles = [m for m in discovery_messages(per_entity, "m", Task.DETECT) if m.payload]
    for message in singles[1:]:  # after the hand-over message on the device topic
        platform = message.topic.split("/")[1]
        assert ha_errors(platform, json.loads(message.payload)) == [], message.topic


def test_no_label_is_unknown_and_the_score_is_0_to_1():
    components = offered(AppConfig())
    render = jinja2.Environment(autoescape=False).from_string
    label, score = components["label"], components["score"]
    nothing = {"labels": [], "sequence": 1, "captured_at": "x"}
    assert render(label["value_template"]).render(value_json=nothing) == "None"
    assert render(score["value_template"]).render(value_json=nothing) == "None"
    macaw = {"labels": [{"index": 89, "label": "macaw", "score": 0.9961}]}
    assert render(score["value_template"]).render(value_json=macaw) == "0.9961"
    attributes = render(label["json_attributes_template"]).render(
        value_json={**macaw, "sequence": 4, "captured_at": "t"}
    )
    assert json.loads(attributes)["score"] == 0.9961
    assert "unit_of_measurement" not in score


def test_each_format_hands_the_other_over_in_home_assistants_order():
    device = AppConfig(device_id="cam1")
    messages = discovery_messages(device, "m")
    entity_topics = [config_topic(device, e) for e in BASE_ENTITIES]
    migrate = b'{"migrate_discovery": true}'
    assert [(m.topic, m.payload, m.retain) for m in messages[: len(entity_topics)]] == [
        (topic, migrate, False) for topic in entity_topics
    ]
    assert messages[len(entity_topics)].topic == device_topic(device)
    assert [(m.topic, m.payload) for m in messages[len(entity_topics) + 1 :]] == [
        (topic, b"") for topic in entity_topics
    ]
    entity = AppConfig(device_id="cam1", homeassistant={"discovery_format": "entity"})
    back = discovery_messages(entity, "m")
    assert (back[0].topic, back[0].payload, back[0].retain) == (
        device_topic(entity),
        migrate,
        False,
    )
    assert (back[-1].topic, back[-1].payload) == (device_topic(entity), b"")
    assert ha_errors("migrate", json.loads(migrate)) == []

"""Home Assistant MQTT discovery: each appliance appears as one device with its entities.

The messages are retained configs on ``<discovery_prefix>/<component>/<node>/<object>/config``
(Home Assistant's documented topic layout), every entity tied to the appliance's
availability topic (``<prefix>/<device_id>/status``: online / offline, the last will).
Turning discovery off publishes empty retained payloads on the same topics, which is how
Home Assistant removes the entities.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edgeeye import __version__
from edgeeye.config.app import AppConfig

SUPPORT_URL = "https://github.com/edgeeye/edgeeye"


@dataclass(frozen=True)
class Entity:
    component: str  # sensor, binary_sensor, image, number, select, switch
    object_id: str
    name: str
    leaf: str  # which of our topics carries its state: result, stats, status, settings...
    fields: dict[str, Any]
    #: When the entity exists: "always"; "snapshots" (on in the YAML, or remote control
    #: allowed to turn them on); "remote:<setting>", with remote control allowed to change
    #: that setting (``remote_control.allow``), since a control that is refused is no use.
    needs: str = "always"


# Templates run in Home Assistant (Jinja); a template rendering "None" makes the state
# unknown there, which is what a missing top label or an empty latency window means.
ENTITIES = (
    Entity(
        "sensor",
        "label",
        "Label",
        "result",
        {
            "value_template": "{{ value_json.labels[0].label if value_json.labels else 'none' }}",
            "json_attributes_template": (
                "{{ {'score': (value_json.labels[0].score if value_json.labels else None),"
                " 'top_k': value_json.labels, 'sequence': value_json.sequence,"
                " 'captured_at': value_json.captured_at} | tojson }}"
            ),
            "icon": "mdi:eye",
        },
    ),
    Entity(
        "sensor",
        "score",
        "Score",
        "result",
        {
            "value_template": (
                "{{ (value_json.labels[0].score * 100) | round(1) if value_json.labels else None }}"
            ),
            "unit_of_measurement": "%",
            "state_class": "measurement",
            "icon": "mdi:percent",
        },
    ),
    Entity(
        "sensor",
        "fps",
        "Frames per second",
        "stats",
        {
            "value_template": "{{ value_json.fps }}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "icon": "mdi:speedometer",
        },
    ),
    Entity(
        "sensor",
        "latency",
        "Latency p99",
        "stats",
        {
            "value_template": "{{ value_json.latency_ms.p99 }}",
            "unit_of_measurement": "ms",
            "device_class": "duration",
            "state_class": "measurement",
        },
    ),
    Entity(
        "sensor",
        "frames_dropped",
        "Dropped frames",
        "stats",
        {
            "value_template": "{{ value_json.frames_dropped }}",
            "state_class": "total_increasing",
            "entity_category": "diagnostic",
            "icon": "mdi:image-broken-variant",
        },
    ),
    Entity(
        "binary_sensor",
        "online",
        "Online",
        "status",
        {
            "payload_on": "online",
            "payload_off": "offline",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
        },
    ),
    Entity(
        "image",
        "snapshot",
        "Snapshot",
        "snapshot",
        {"content_type": "image/jpeg"},
        needs="snapshots",
    ),
    # Remote control (opt-in): the settings topic is their state, set/... their command.
    Entity(
        "number",
        "min_score",
        "Minimum score",
        "settings",
        {
            "command_topic": "set/min_score",
            "value_template": "{{ value_json.min_score }}",
            "min": 0,
            "max": 1,
            "step": 0.01,
            "mode": "box",
            "entity_category": "config",
        },
        needs="remote:min_score",
    ),
    Entity(
        "select",
        "publish_mode",
        "Publish mode",
        "settings",
        {
            "command_topic": "set/publish/mode",
            "value_template": "{{ value_json.publish.mode }}",
            "options": ["every_frame", "on_change"],
            "entity_category": "config",
        },
        needs="remote:publish",
    ),
    Entity(
        "switch",
        "snapshots",
        "Snapshots",
        "settings",
        {
            "command_topic": "set/snapshot",
            "value_template": "{{ 'on' if value_json.snapshot else 'off' }}",
            "payload_on": "on",
            "payload_off": "off",
            "state_on": "on",
            "state_off": "off",
            "entity_category": "config",
        },
        needs="remote:snapshot",
    ),
)


def _wanted(config: AppConfig, entity: Entity) -> bool:
    if entity.needs == "snapshots":
        return config.snapshot.enabled or _remotely(config, "snapshot")
    if entity.needs.startswith("remote:"):
        return _remotely(config, entity.needs.removeprefix("remote:"))
    return True


def _remotely(config: AppConfig, setting: str) -> bool:
    """Whether a remote command may change ``setting``."""
    return config.remote_control.enabled and setting in config.remote_control.allow


def node_id(config: AppConfig) -> str:
    """The device's node in discovery topics: one per device id, never shared.

    Home Assistant allows only letters, digits, '_' and '-' in node ids; device ids may also
    hold '.'.  An id without '.' keeps ``edgeeye_<id>`` (what edgeeye 0.1.0 published, so
    existing entities stay).  An id with '.' is escaped behind ``edgeeye-``, which no
    ``edgeeye_`` node can equal: '-' becomes '--' and '.' becomes '-d', a prefix-free code,
    so two ids never escape alike.  ``cam.1`` and ``cam_1`` no longer share (and forget)
    each other's entities.
    """
    device_id = config.device_id
    if "." not in device_id:
        return "edgeeye_" + device_id
    return "edgeeye-" + device_id.replace("-", "--").replace(".", "-d")


def legacy_node_id(config: AppConfig) -> str:
    """The node edgeeye 0.1.0 used: '.' became '_', so ``cam.1`` and ``cam_1`` shared
    ``edgeeye_cam_1``.  ``edgeeye forget`` also clears what such a release left there."""
    return "edgeeye_" + config.device_id.replace(".", "_")


def config_filter(config: AppConfig, node: str) -> str:
    """The subscription matching every discovery config under ``node``."""
    return f"{config.homeassistant.discovery_prefix}/+/{node}/+/config"


def entity_slug(node: str, entity: Entity) -> str:
    """The object part of the entity id Home Assistant is asked to use: its own slug
    (lower case, runs of anything but letters and digits as one '_'), as it would make
    it; only a suggestion, used once, when the entity is first registered."""
    return re.sub(r"[^a-z0-9]+", "_", f"{node}_{entity.object_id}".lower()).strip("_")


def config_topic(config: AppConfig, entity: Entity) -> str:
    prefix = config.homeassistant.discovery_prefix
    return f"{prefix}/{entity.component}/{node_id(config)}/{entity.object_id}/config"


def discovery_messages(config: AppConfig, model_name: str) -> list[tuple[str, bytes]]:
    """(topic, retained payload) for every entity of this appliance; an empty payload for
    each one its config does not want (snapshots or remote control off), which removes it."""
    node = node_id(config)
    device = {
        "identifiers": [node],
        "name": f"edgeeye {config.device_id}",
        "model": model_name,
        "manufacturer": "edgeeye",
        "sw_version": __version__,
    }
    origin = {"name": "edgeeye", "sw_version": __version__, "support_url": SUPPORT_URL}
    messages = []
    for entity in ENTITIES:
        if not _wanted(config, entity):
            messages.append((config_topic(config, entity), b""))
            continue
        # An image has no state topic: its image topic carries the picture itself.
        state_key = "image_topic" if entity.component == "image" else "state_topic"
        payload: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.object_id}",
            # Home Assistant 2025.10 replaced object_id (removed in 2026.4) with this.
            "default_entity_id": f"{entity.component}.{entity_slug(node, entity)}",
            state_key: config.topic(entity.leaf),
            "device": device,
            "origin": origin,
            **entity.fields,
        }
        if "command_topic" in entity.fields:
            payload["command_topic"] = config.topic(entity.fields["command_topic"])
        if entity.leaf != "status":  # the online sensor is the availability itself
            payload["availability_topic"] = config.topic("status")
            payload["payload_available"] = "online"
            payload["payload_not_available"] = "offline"
        if "json_attributes_template" in entity.fields:
            payload["json_attributes_topic"] = config.topic(entity.leaf)
        messages.append((config_topic(config, entity), json.dumps(payload).encode()))
    return messages


def removal_messages(config: AppConfig) -> list[tuple[str, bytes]]:
    """Empty retained payloads on every config topic: Home Assistant drops the entities."""
    return [(config_topic(config, entity), b"") for entity in ENTITIES]


def retained_configs(config: AppConfig, model_name: str) -> list[tuple[str, bytes]]:
    """What a connect publishes: the configs with discovery on, empty ones with it off."""
    if config.homeassistant.discovery:
        return discovery_messages(config, model_name)
    return removal_messages(config)

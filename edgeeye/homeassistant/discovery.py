"""Home Assistant MQTT discovery: each appliance appears as one device with its entities.

By default one retained config on ``<discovery_prefix>/device/<node>/config`` holds every
entity as a component (device-based discovery, Home Assistant 2024.11 and later); with
``homeassistant.discovery_format: entity`` each entity has its own retained config on
``<discovery_prefix>/<component>/<node>/<object>/config``, as older versions need.  Every
entity is tied to the appliance's availability topic (``<prefix>/<device_id>/status``:
online / offline, the last will).  Turning discovery off publishes empty retained
payloads on those topics, which is how Home Assistant removes the entities.  The
entities themselves are in ``entities``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edgeeye import __version__
from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.entities import Entity, entities_for, wanted
from edgeeye.inference.results import Task

SUPPORT_URL = "https://github.com/edgeeye/edgeeye"


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
    """An entity's own config topic (the ``entity`` format)."""
    prefix = config.homeassistant.discovery_prefix
    return f"{prefix}/{entity.component}/{node_id(config)}/{entity.object_id}/config"


def device_topic(config: AppConfig) -> str:
    """The device's config topic (the ``device`` format): its object id is the node, and
    each component's key the entity's object id, so Home Assistant's migration between
    the two formats finds every entity."""
    return f"{config.homeassistant.discovery_prefix}/device/{node_id(config)}/config"


@dataclass(frozen=True)
class DiscoveryMessage:
    topic: str
    payload: bytes
    retain: bool = True


def _component(config: AppConfig, node: str, entity: Entity) -> dict[str, Any]:
    # An image has no state topic: its image topic carries the picture itself.
    state_key = "image_topic" if entity.component == "image" else "state_topic"
    payload: dict[str, Any] = {
        "name": entity.name,
        "unique_id": f"{node}_{entity.object_id}",
        # Home Assistant 2025.10 replaced object_id (removed in 2026.4) with this.
        "default_entity_id": f"{entity.component}.{entity_slug(node, entity)}",
        state_key: config.topic(entity.leaf),
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
    return payload


def _device(config: AppConfig, node: str, model_name: str) -> dict[str, Any]:
    return {
        "identifiers": [node],
        "name": f"edgeeye {config.device_id}",
        "model": model_name,
        "manufacturer": "edgeeye",
        "sw_version": __version__,
    }


_ORIGIN = {"name": "edgeeye", "sw_version": __version__, "support_url": SUPPORT_URL}
_MIGRATE = json.dumps({"migrate_discovery": True}).encode()


def discovery_messages(
    config: AppConfig,
    model_name: str,
    task: Task = Task.CLASSIFY,
    dropped: tuple[Entity, ...] = (),
) -> list[DiscoveryMessage]:
    """What a connect publishes with discovery on, in order.

    ``device`` format: ``migrate_discovery`` on every entity's own topic (entities an
    older release, or the ``entity`` format, made there are handed over), the device's
    config (entities its config does not want, and ``dropped`` ones, as removals), then
    empty retained payloads on the entity topics.  ``entity`` format: the same the other
    way round.  This is Home Assistant's documented migration, in both directions: entity
    ids, customisations and history stay; on a broker that never held the other format
    the extra messages change nothing.
    """
    node = node_id(config)
    entities = entities_for(config, task)
    keep = [entity for entity in entities if wanted(config, entity)]
    gone = [entity for entity in entities if not wanted(config, entity)] + list(dropped)
    entity_topics = [config_topic(config, entity) for entity in [*entities, *dropped]]
    device = _device(config, node, model_name)
    if config.homeassistant.discovery_format == "device":
        components: dict[str, Any] = {e.object_id: {"platform": e.component} for e in gone}
        for entity in keep:
            components[entity.object_id] = {
                "platform": entity.component,
                **_component(config, node, entity),
            }
        document = {"device": device, "origin": _ORIGIN, "components": components}
        return [
            *(DiscoveryMessage(topic, _MIGRATE, retain=False) for topic in entity_topics),
            DiscoveryMessage(device_topic(config), json.dumps(document).encode()),
            *(DiscoveryMessage(topic, b"") for topic in entity_topics),
        ]
    messages = [DiscoveryMessage(device_topic(config), _MIGRATE, retain=False)]
    for entity in keep:
        single = {**_component(config, node, entity), "device": device, "origin": _ORIGIN}
        messages.append(DiscoveryMessage(config_topic(config, entity), json.dumps(single).encode()))
    messages += [DiscoveryMessage(config_topic(config, entity), b"") for entity in gone]
    messages.append(DiscoveryMessage(device_topic(config), b""))
    return messages


def removal_messages(config: AppConfig, task: Task = Task.CLASSIFY) -> list[DiscoveryMessage]:
    """Empty retained payloads on the device's and every entity's config topic: Home
    Assistant drops the entities."""
    topics = [device_topic(config)]
    topics += [config_topic(config, entity) for entity in entities_for(config, task)]
    return [DiscoveryMessage(topic, b"") for topic in topics]


def retained_configs(
    config: AppConfig,
    model_name: str,
    task: Task = Task.CLASSIFY,
    dropped: tuple[Entity, ...] = (),
) -> list[DiscoveryMessage]:
    """What a connect publishes: the configs with discovery on, empty ones with it off."""
    if config.homeassistant.discovery:
        return discovery_messages(config, model_name, task, dropped)
    return removal_messages(config, task)

"""The Home Assistant entities of one appliance: the fixed ones, and those its model,
regions and presence entries add.

Templates run in Home Assistant (Jinja).  A template rendering ``None`` makes the state
unknown, which is what a missing top label or an empty latency window means (never a
word such as 'none', which reads like a class).  Scores are 0-1 everywhere, as in the
results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeeye.config.app import AppConfig
from edgeeye.inference.results import Task


@dataclass(frozen=True)
class Entity:
    component: str  # sensor, binary_sensor, image, number, select, switch, event
    object_id: str  # its key in the device's components, and its per-entity topic level
    name: str
    leaf: str  # which of our topics carries its state: result, stats, status, settings...
    fields: dict[str, Any]
    #: When the entity exists: "always"; "snapshots" (on in the YAML, or remote control
    #: allowed to turn them on); "remote:<setting>", with remote control allowed to change
    #: that setting (``remote_control.allow``), since a control that is refused is no use.
    needs: str = "always"


_TOP = "value_json.labels[0]"

BASE_ENTITIES = (
    Entity(
        "sensor",
        "label",
        "Label",
        "result",
        {
            "value_template": f"{{{{ {_TOP}.label if value_json.labels else None }}}}",
            "json_attributes_template": (
                f"{{{{ {{'score': ({_TOP}.score if value_json.labels else None),"
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
            "value_template": f"{{{{ {_TOP}.score if value_json.labels else None }}}}",
            "state_class": "measurement",
            "suggested_display_precision": 2,
            "icon": "mdi:gauge",
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

#: What a detector adds: how many objects the last result holds, by label in attributes.
DETECTIONS = Entity(
    "sensor",
    "detections",
    "Detections",
    "result",
    {
        "value_template": (
            "{{ value_json.detections | length if value_json.detections is defined else None }}"
        ),
        "json_attributes_template": (
            "{{ (value_json.counts if value_json.counts is defined else {}) | tojson }}"
        ),
        "state_class": "measurement",
        "icon": "mdi:counter",
    },
)


def entities_for(config: AppConfig, task: Task) -> list[Entity]:
    """Every entity this config and model offer (``wanted`` says which are on)."""
    entities = list(BASE_ENTITIES)
    if task is Task.DETECT:
        entities.append(DETECTIONS)
    for name in config.regions:
        entities += _region_entities(name, task)
    for entry in config.presence:
        entities += _presence_entities(entry.key, entry.label, entry.region)
    return entities


def _region_entities(name: str, task: Task) -> list[Entity]:
    region = f"value_json.regions['{name}']"
    known = f"value_json.regions is defined and {region} is defined"
    label = Entity(
        "sensor",
        f"region_{name}_label",
        f"{name} label",
        "result",
        {
            "value_template": (
                f"{{{{ {region}.labels[0].label if {known} and {region}.labels else None }}}}"
            ),
            "json_attributes_template": (
                f"{{{{ {{'score': ({region}.labels[0].score if {known} and {region}.labels"
                f" else None), 'labels': ({region}.labels if {known} else [])}} | tojson }}}}"
            ),
            "icon": "mdi:select-marker",
        },
    )
    if task is not Task.DETECT:
        return [label]
    count = Entity(
        "sensor",
        f"region_{name}_count",
        f"{name} detections",
        "result",
        {
            "value_template": (f"{{{{ {region}.counts.values() | sum if {known} else None }}}}"),
            "json_attributes_template": (
                f"{{{{ ({region}.counts if {known} else {{}}) | tojson }}}}"
            ),
            "state_class": "measurement",
            "icon": "mdi:counter",
        },
    )
    return [label, count]


def _presence_entities(key: str, label: str, region: str | None) -> list[Entity]:
    where = f" in {region}" if region else ""
    state = Entity(
        "binary_sensor",
        f"presence_{key}",
        f"{label}{where}",
        f"presence/{key}",
        {
            "value_template": "{{ value_json.state }}",
            "payload_on": "on",
            "payload_off": "off",
            "device_class": "occupancy",
            "json_attributes_template": (
                "{{ {'count': value_json.count, 'score': value_json.score,"
                " 'since': value_json.since} | tojson }}"
            ),
        },
    )
    events = Entity(
        "event",
        f"presence_{key}_event",
        f"{label}{where} arrivals and departures",
        f"presence/{key}/event",
        {"event_types": ["arrived", "departed"], "icon": "mdi:motion-sensor"},
    )
    return [state, events]


def wanted(config: AppConfig, entity: Entity) -> bool:
    if entity.needs == "snapshots":
        return config.snapshot.enabled or _remotely(config, "snapshot")
    if entity.needs.startswith("remote:"):
        return _remotely(config, entity.needs.removeprefix("remote:"))
    return True


def _remotely(config: AppConfig, setting: str) -> bool:
    """Whether a remote command may change ``setting``."""
    return config.remote_control.enabled and setting in config.remote_control.allow

"""Home Assistant discovery as the tests read it: the schemas written from Home
Assistant's documentation (tests/schemas/), and a device config's components."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import DiscoveryMessage, device_topic, discovery_messages
from edgeeye.inference.results import Task
from tests.support.paths import REPO

SCHEMAS = REPO / "tests" / "schemas"


def ha_validator(name: str) -> Draft202012Validator:
    """The validator of ``tests/schemas/homeassistant_<name>.schema.json``."""
    resources = [
        (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.json")
    ]
    path: Path = SCHEMAS / f"homeassistant_{name}.schema.json"
    return Draft202012Validator(
        json.loads(path.read_text()),
        registry=Registry().with_resources(resources),
        format_checker=FormatChecker(),
    )


def ha_errors(name: str, document: Any) -> list[str]:
    return [error.message[:200] for error in ha_validator(name).iter_errors(document)]


def device_config(config: AppConfig, task: Task = Task.CLASSIFY) -> dict[str, Any]:
    """The device config ``config`` publishes (device format), parsed."""
    (message,) = [
        m for m in discovery_messages(config, "model", task) if m.topic == device_topic(config)
    ]
    return json.loads(message.payload)


def offered(config: AppConfig, task: Task = Task.CLASSIFY) -> dict[str, dict[str, Any]]:
    """The components that are entities (not removals), by key."""
    components = device_config(config, task)["components"]
    return {key: c for key, c in components.items() if set(c) != {"platform"}}


def retained_entity_configs(messages: list[DiscoveryMessage]) -> list[tuple[str, bytes]]:
    """The per-entity configs among ``messages`` (entity format), as retained."""
    return [(m.topic, m.payload) for m in messages if m.retain and m.payload]

"""The configuration: one YAML file validated into frozen, typed models.

Nothing downstream re-reads YAML: ``load_config`` returns an ``AppConfig`` (its sections'
models are in ``sections.py``) and every process gets (a copy of) that object.
Errors name the key path, the YAML line, the bad value and what is allowed, in one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator

from edgeeye.config.excerpts import clip, excerpt
from edgeeye.config.files import default_state_dir
from edgeeye.config.manifest import load_manifest
from edgeeye.config.messages import describe, key_location
from edgeeye.config.scene import (
    ClassifyDetectionsConfig,
    PresenceConfig,
    RegionConfig,
    SceneName,
)
from edgeeye.config.sections import (
    Frozen,
    HomeAssistantConfig,
    LoggingConfig,
    ModelConfig,
    MqttConfig,
    OutboxConfig,
    PublishConfig,
    RemoteControlConfig,
    RingConfig,
    SnapshotConfig,
    SourceConfig,
    SupervisorConfig,
    SyntheticSourceConfig,
    count_or_auto,
)
from edgeeye.config.topic_names import is_topic_level
from edgeeye.config.yaml_text import read_yaml
from edgeeye.errors import ConfigError

#: Environment variables that override a config value, and the key they override.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "EDGEEYE_MQTT_HOST": ("mqtt", "host"),
    "EDGEEYE_MQTT_PORT": ("mqtt", "port"),
    "EDGEEYE_DEVICE_ID": ("device_id",),
}


class AppConfig(Frozen):
    """The whole, validated appliance configuration."""

    device_id: str = "edgeeye"
    source: SourceConfig = SyntheticSourceConfig()
    model: ModelConfig = ModelConfig()
    workers: Annotated[int | Literal["auto"], BeforeValidator(count_or_auto(1, 64))] = "auto"
    ring: RingConfig = RingConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    publish: PublishConfig = PublishConfig()
    snapshot: SnapshotConfig = SnapshotConfig()
    remote_control: RemoteControlConfig = RemoteControlConfig()
    logging: LoggingConfig = LoggingConfig()
    #: Named parts of the frame; results are also given per region.
    regions: dict[SceneName, RegionConfig] = Field(default_factory=dict, max_length=16)
    presence: tuple[PresenceConfig, ...] = Field((), max_length=64)
    classify_detections: ClassifyDetectionsConfig | None = None

    @property
    def crops_from_frame(self) -> bool:
        """Whether workers crop the full frame (regions, or boxes to classify)."""
        return bool(self.regions) or self.classify_detections is not None

    def capture_size(self, model_size: tuple[int, int]) -> tuple[int, int]:
        """(height, width) a camera is asked for: the model's size, which the ISP scales
        to, unless workers crop parts of the frame; then the camera's main size."""
        source = self.source
        if self.crops_from_frame and source.type == "picamera2":
            width, height = source.main_size
            return height, width
        return model_size

    @field_validator("device_id")
    @classmethod
    def _safe_device_id(cls, value: str) -> str:
        if not is_topic_level(value):
            raise ValueError(
                "must be 1-64 letters, digits, '_', '-', '.' starting with a letter or digit"
                " (no '/', '+', '#')"
            )
        return value

    @property
    def worker_count(self) -> int:
        """``workers`` resolved: 'auto' is one per core this process may run on."""
        if self.workers == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return self.workers

    @property
    def slot_count(self) -> int:
        if self.ring.slots == "auto":
            return self.worker_count + 2
        return self.ring.slots

    @property
    def outbox_path(self) -> Path:
        if self.outbox.path == "auto":
            return default_state_dir() / f"outbox-{self.device_id}.sqlite3"
        return self.outbox.path

    @property
    def client_id(self) -> str:
        """The MQTT client id: ``edgeeye-<device_id>`` unless set; one per device."""
        return self.mqtt.client_id or f"edgeeye-{self.device_id}"

    def topic(self, leaf: str) -> str:
        return f"{self.mqtt.topic_prefix}/{self.device_id}/{leaf}"


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Read, override from the environment, and validate; raise ``ConfigError`` in one line.

    ``path`` None means the built-in defaults (which ``configs/edgeeye.yaml`` spells out).
    """
    label = str(path) if path is not None else "<built-in defaults>"
    try:
        return _load(path, label, os.environ if environ is None else environ)
    except (RecursionError, MemoryError):
        # The YAML loader's limits should keep both away; should one still happen (in
        # pydantic, say), a SIGHUP with that file must be refused, not crash the appliance.
        raise ConfigError(f"{label}: cannot load: too large or too deeply nested") from None


def _load(path: str | Path | None, label: str, environ: Mapping[str, str]) -> AppConfig:
    raw: dict[str, Any] = {}
    root_node: yaml.Node | None = None
    if path is not None:
        loaded, root_node = read_yaml(Path(path), label)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{label}: line 1: the config must be a mapping of keys")
        raw = loaded
    overridden = _apply_env(raw, environ)
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe(exc, label, root_node, overridden, AppConfig)) from None
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    _check_scene(config, label, root_node)
    return _check_model_files(config, label, root_node, base)


def _check_scene(config: AppConfig, label: str, root: yaml.Node | None) -> None:
    """Presence entries name regions that exist, and no two share a topic."""
    keys: dict[str, int] = {}
    for position, entry in enumerate(config.presence):
        if entry.region is not None and entry.region not in config.regions:
            where = key_location(label, root, ("presence", position, "region"))
            raise ConfigError(
                f"{where}: {excerpt(entry.region)} is not allowed: must be one of the"
                f" regions ({', '.join(config.regions) or 'none are set'})"
            )
        if entry.key in keys:
            where = key_location(label, root, ("presence", position))
            raise ConfigError(
                f"{where}: is {entry.key!r}, as presence.{keys[entry.key]} is: give one"
                " another label, region or id"
            )
        keys[entry.key] = position


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    overridden: dict[tuple[str, ...], str] = {}
    for var, key_path in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        node = raw
        for key in key_path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[key_path[-1]] = environ[var]
        overridden[key_path] = var
    return overridden


def _check_model_files(
    config: AppConfig, label: str, root: yaml.Node | None, base: Path
) -> AppConfig:
    """Resolve relative model paths against the config's folder and check they exist: the
    model's, and the second model's of ``classify_detections``."""
    updates = _resolved(config.model, ("model",), label, root, base)
    if config.model.path is None and config.model.name is None:
        raise ConfigError(f"{label}: model: set either model.name or model.path and model.labels")
    _known_name(config.model.path, config.model.name, ("model",), label, root)
    if updates:
        config = config.model_copy(update={"model": config.model.model_copy(update=updates)})
    cascade = config.classify_detections
    if cascade is not None:
        where = ("classify_detections", "model")
        second = _resolved(cascade.model, where, label, root, base)
        _known_name(cascade.model.path, cascade.model.name, where, label, root)
        if second:
            model = cascade.model.model_copy(update=second)
            config = config.model_copy(
                update={"classify_detections": cascade.model_copy(update={"model": model})}
            )
    return config


def _resolved(
    section: Any, at: tuple[str, ...], label: str, root: yaml.Node | None, base: Path
) -> dict[str, Path]:
    """``section``'s path and labels, resolved; an error naming the key if one is missing."""
    updates: dict[str, Path] = {}
    for key in ("path", "labels"):
        value: Path | None = getattr(section, key)
        if value is None:
            continue
        where = key_location(label, root, (*at, key))
        try:
            resolved = (base / value.expanduser()).resolve()
            found = resolved.is_file()
        except (OSError, ValueError, RuntimeError) as exc:  # too long, a NUL, ~nosuchuser
            reason = exc.strerror if isinstance(exc, OSError) else str(exc).rstrip(".")
            raise ConfigError(f"{where}: {excerpt(str(value))} is not allowed: {reason}") from None
        if not found:
            raise ConfigError(
                f"{where}: {excerpt(str(value))} is not allowed: no such file"
                f" ({clip(str(resolved))})"
            )
        updates[key] = resolved
    return updates


def _known_name(
    path: Path | None, name: str | None, at: tuple[str, ...], label: str, root: yaml.Node | None
) -> None:
    """Without a path, the name must be one of the manifest's models."""
    if path is not None or name is None:
        return
    known = load_manifest()
    if name not in known:
        where = key_location(label, root, (*at, "name"))
        raise ConfigError(
            f"{where}: {excerpt(name)} is not allowed: must be one of"
            f" {', '.join(sorted(known))} (or set {'.'.join(at)}.path and"
            f" {'.'.join(at)}.labels)"
        )


def dump_config(config: AppConfig) -> str:
    """The resolved config as YAML, for ``edgeeye check-config``."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)

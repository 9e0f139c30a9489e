"""The configuration: one YAML file validated into frozen, typed models.

Nothing downstream re-reads YAML: ``load_config`` returns an ``AppConfig`` and every
process gets (a copy of) that object.  Errors name the key path, the YAML line, the bad
value and what is allowed, in one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edgeeye.configerrors import describe, key_location
from edgeeye.errors import ConfigError

#: Environment variables that override a config value, and the key they override.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "EDGEEYE_MQTT_HOST": ("mqtt", "host"),
    "EDGEEYE_MQTT_PORT": ("mqtt", "port"),
    "EDGEEYE_DEVICE_ID": ("device_id",),
}

# Device ids and topic prefixes become MQTT topic levels: no wildcards, no level
# separators, nothing that could publish outside the device's own tree.
_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOPIC_PREFIX = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,3}$"
)


def _count_or_auto(low: int, high: int) -> Callable[[Any], Any]:
    """A validator for 'an integer in range, or auto' that gives one clear message."""

    def check(value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        if isinstance(value, str) and value.isdigit() and low <= int(value) <= high:
            return int(value)
        raise ValueError(f"must be a whole number from {low} to {high}, or 'auto'")

    return check


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticSourceConfig(_Frozen):
    """Generated frames, for benchmarks and the demo."""

    type: Literal["synthetic"] = "synthetic"
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    # No camera limits generated frames; the benchmark offers small models thousands a second.
    fps: float = Field(30.0, ge=0, le=20_000)
    stamp: bool = False


class ImagesSourceConfig(_Frozen):
    """A file, folder or glob of JPEG/PNG/BMP files."""

    type: Literal["images"]
    path: str = Field(min_length=1)
    loop: bool = True
    fps: float = Field(0.0, ge=0, le=1000)


class Picamera2SourceConfig(_Frozen):
    """A Raspberry Pi camera through picamera2; the lores stream is set to the model's size."""

    type: Literal["picamera2"]
    camera: int = Field(0, ge=0, le=15)
    main_size: tuple[
        Annotated[int, Field(ge=64, le=9152)], Annotated[int, Field(ge=64, le=6944)]
    ] = (
        1280,
        720,
    )
    fps: float = Field(0.0, ge=0, le=240)
    lores_format: Literal["auto", "YUV420", "RGB888"] = "auto"


class VideoSourceConfig(_Frozen):
    """A video file or V4L2 device through OpenCV (optional extra ``video``)."""

    type: Literal["video"]
    path: str = Field(min_length=1)
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    fps: float = Field(0.0, ge=0, le=1000)


SourceConfig = Annotated[
    SyntheticSourceConfig | ImagesSourceConfig | Picamera2SourceConfig | VideoSourceConfig,
    Field(discriminator="type"),
]


class ModelConfig(_Frozen):
    """Which model to run and how to read its output.

    Either ``name`` (a model from the manifest, found in ``EDGEEYE_MODEL_DIR`` or the cache)
    or ``path`` plus ``labels`` (your own files).  ``path`` wins when both are set.
    """

    name: str | None = "mobilenet_v2_1.0_224_quant"
    path: Path | None = None
    labels: Path | None = None
    top_k: int = Field(3, ge=1, le=100)
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    threads: int = Field(1, ge=1, le=16)


class RingConfig(_Frozen):
    """The shared-memory frame ring. ``slots`` = 'auto' is one per worker plus two.

    One frame waiting per worker keeps every worker busy; each further slot only adds a
    frame's worth of latency under load (measured with ``edgeeye bench``)."""

    slots: Annotated[int | Literal["auto"], BeforeValidator(_count_or_auto(2, 256))] = "auto"


class MqttTlsConfig(_Frozen):
    """TLS to the broker: the CA that signed its certificate, and ours if it asks for one."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None


def _topic_prefix(value: str) -> str:
    if not _TOPIC_PREFIX.match(value):
        raise ValueError(
            "must be 1-4 topic levels of letters, digits, '_', '-', '.' separated by '/'"
            " (no '+', '#', leading or trailing '/')"
        )
    return value


class MqttConfig(_Frozen):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    client_id: str | None = Field(None, min_length=1, max_length=128)
    topic_prefix: str = "edgeeye"
    qos: Literal[0, 1, 2] = 1
    keepalive: int = Field(30, ge=5, le=3600)
    #: Reconnect attempts start 0.5-1.5 s after a loss and double up to this.
    reconnect_max_s: float = Field(30.0, ge=1, le=3600)
    username: str | None = Field(None, min_length=1, max_length=256)
    #: A file holding the password (first line); never the password itself in the YAML.
    password_file: Path | None = None
    #: Or the name of a systemd credential (LoadCredential=NAME:...), read from
    #: $CREDENTIALS_DIRECTORY/NAME.
    password_credential: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    tls: MqttTlsConfig | None = None
    #: MQTT 5 adds message expiry and content types; 3.1.1 is for brokers without it.
    protocol: Annotated[Literal["5", "3.1.1"], BeforeValidator(str)] = "5"
    #: MQTT 5: a result, snapshot or error not delivered within this is dropped by the
    #: broker (0: never); status, stats, settings and discovery never expire.
    message_expiry_s: int = Field(3600, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConfig:
        if self.password_file is not None and self.password_credential is not None:
            raise ValueError("set password_file or password_credential, not both")
        if (self.password_file or self.password_credential) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def password_path(self) -> Path | None:
        """Where the password is read from, if one is configured."""
        if self.password_credential is not None:
            return Path(os.environ.get("CREDENTIALS_DIRECTORY", "")) / self.password_credential
        return self.password_file

    stats_interval: float = Field(10.0, ge=0.5, le=3600)

    @field_validator("topic_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        return _topic_prefix(value)


class OutboxConfig(_Frozen):
    """Results kept on disk while the broker is unreachable, delivered in order later.

    ``path`` 'auto' is ``outbox-<device_id>.sqlite3`` in systemd's StateDirectory, or
    else in ``$XDG_STATE_HOME/edgeeye`` (``~/.local/state/edgeeye``).
    """

    path: Literal["auto"] | Path = "auto"
    max_mb: float = Field(64.0, ge=0.01, le=100_000)


class SupervisorConfig(_Frozen):
    """How the main process keeps the pipeline going when a part of it fails."""

    #: A worker whose single invoke runs longer than this is killed and replaced.
    invoke_deadline_s: float = Field(10.0, ge=0.5, le=3600)
    #: Worker restarts allowed within ``restart_window_s``; one more and the appliance exits.
    worker_restarts: int = Field(5, ge=0, le=1000)
    restart_window_s: float = Field(60.0, ge=1, le=86400)
    #: Consecutive capture failures retried (with backoff) before the appliance exits.
    source_retries: int = Field(5, ge=0, le=1000)
    #: First retry delay; doubled after each failure, up to ``source_backoff_max_s``.
    source_backoff_s: float = Field(1.0, ge=0.1, le=60)
    source_backoff_max_s: float = Field(30.0, ge=0.1, le=3600)
    #: No frame classified for this long (capture retries aside) means stalled: the
    #: systemd watchdog stops being fed.  Keep it above the source's frame interval.
    progress_timeout_s: float = Field(30.0, ge=1, le=86400)


class HomeAssistantConfig(_Frozen):
    """MQTT discovery: the appliance shows up in Home Assistant as a device."""

    discovery: bool = True
    discovery_prefix: str = "homeassistant"

    @field_validator("discovery_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        return _topic_prefix(value)


class PublishConfig(_Frozen):
    """Which results are sent: every frame, or only when what the camera sees changes.

    A result's state is its top-1 label (after ``include``/``exclude`` and
    ``model.min_score``), and whether that label's score is at least ``score_threshold``
    (when set).  Remote control (``remote_control``) may change these while running.
    """

    mode: Literal["every_frame", "on_change"] = "every_frame"
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)
    #: on_change: after a change is sent, the next waits this long (flicker between two
    #: labels sends one change per hold, not one per frame).  Snapshots follow it too.
    hold_s: float = Field(1.0, ge=0.0, le=3600)
    #: At most this many results a second (0: no limit).
    max_rate: float = Field(0.0, ge=0.0, le=1000)
    #: on_change: with nothing sent for this long, the current state is sent again (0: never).
    heartbeat_s: float = Field(60.0, ge=0.0, le=86400)
    #: Only these labels are published (empty: all); ``exclude`` are never published.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class SnapshotConfig(_Frozen):
    """A small JPEG of the frame behind each label change, on ``<prefix>/<device>/snapshot``.

    The picture is the frame as the model saw it (the model's input), scaled to
    ``width`` x ``height`` (default: the model's input size)."""

    enabled: bool = False
    width: int | None = Field(None, ge=16, le=1920)
    height: int | None = Field(None, ge=16, le=1080)
    quality: int = Field(75, ge=10, le=95)
    retain: bool = False


class RemoteControlConfig(_Frozen):
    """Accept live settings on ``<prefix>/<device>/set/...`` (see the README)."""

    enabled: bool = False


class LoggingConfig(_Frozen):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class AppConfig(_Frozen):
    """The whole, validated appliance configuration."""

    device_id: str = "edgeeye"
    source: SourceConfig = SyntheticSourceConfig()
    model: ModelConfig = ModelConfig()
    workers: Annotated[int | Literal["auto"], BeforeValidator(_count_or_auto(1, 64))] = "auto"
    ring: RingConfig = RingConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    publish: PublishConfig = PublishConfig()
    snapshot: SnapshotConfig = SnapshotConfig()
    remote_control: RemoteControlConfig = RemoteControlConfig()
    logging: LoggingConfig = LoggingConfig()

    @field_validator("device_id")
    @classmethod
    def _safe_device_id(cls, value: str) -> str:
        if not _TOPIC_LEVEL.match(value):
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
            from edgeeye.outbox import default_state_dir

            return default_state_dir() / f"outbox-{self.device_id}.sqlite3"
        return self.outbox.path

    @property
    def client_id(self) -> str:
        """The MQTT client id: ``edgeeye-<device_id>`` unless set; one per device."""
        return self.mqtt.client_id or f"edgeeye-{self.device_id}"

    def topic(self, leaf: str) -> str:
        return f"{self.mqtt.topic_prefix}/{self.device_id}/{leaf}"


def load_config(path: str | Path | None, environ: dict[str, str] | None = None) -> AppConfig:
    """Read, override from the environment, and validate; raise ``ConfigError`` in one line.

    ``path`` None means the built-in defaults (which ``configs/edgeeye.yaml`` spells out).
    """
    environ = os.environ if environ is None else environ
    label = str(path) if path is not None else "<built-in defaults>"
    raw: dict[str, Any] = {}
    root_node: yaml.Node | None = None
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"{label}: cannot read config: {reason}") from exc
        try:
            root_node = yaml.compose(text, Loader=yaml.SafeLoader)
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{label}:{where}: invalid YAML: {problem}") from exc
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
    return _check_model_files(config, label, root_node, base)


def _apply_env(raw: dict[str, Any], environ: dict[str, str]) -> dict[tuple[str, ...], str]:
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
    """Resolve relative model paths against the config's folder and check they exist."""
    updates: dict[str, Any] = {}
    for key in ("path", "labels"):
        value: Path | None = getattr(config.model, key)
        if value is None:
            continue
        resolved = (base / value.expanduser()).resolve()
        if not resolved.is_file():
            where = key_location(label, root, ("model", key))
            raise ConfigError(f"{where}: {str(value)!r} is not allowed: no such file ({resolved})")
        updates[key] = resolved
    if config.model.path is not None and config.model.labels is None:
        where = key_location(label, root, ("model", "path")).replace("model.path", "model.labels")
        raise ConfigError(f"{where}: required key is missing (model.path needs a labels file)")
    if config.model.path is None and config.model.name is None:
        raise ConfigError(f"{label}: model: set either model.name or model.path and model.labels")
    if config.model.path is None:
        from edgeeye.zoo import load_manifest

        known = load_manifest()
        if config.model.name not in known:
            where = key_location(label, root, ("model", "name"))
            raise ConfigError(
                f"{where}: {config.model.name!r} is not allowed: must be one of"
                f" {', '.join(sorted(known))} (or set model.path and model.labels)"
            )
    if updates:
        config = config.model_copy(update={"model": config.model.model_copy(update=updates)})
    return config


def dump_config(config: AppConfig) -> str:
    """The resolved config as YAML, for ``edgeeye check-config``."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)

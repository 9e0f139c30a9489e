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
        raise ConfigError(_describe(exc, label, root_node, overridden)) from None
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


def _describe(
    exc: ValidationError,
    label: str,
    root: yaml.Node | None,
    overridden: dict[tuple[str, ...], str],
) -> str:
    """One line for the first error: where, what was given, what is allowed."""
    error = exc.errors(include_url=False)[0]
    loc = _yaml_path(error["loc"])
    env_var = overridden.get(tuple(str(part) for part in loc))
    if env_var is not None:
        where = f"{label}: {'.'.join(str(part) for part in loc)} (from ${env_var})"
    else:
        where = _where(label, root, loc)
    message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key (allowed: {_allowed_keys(loc)})"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = (error.get("ctx") or {}).get("tag", None)
        where = _where(label, root, (*loc, "type"))
        if error["type"] == "union_tag_not_found":
            return f"{where}: required key is missing (one of {_source_types()})"
        return f"{where}: {tag!r} is not allowed: must be one of {_source_types()}"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    if isinstance(error["input"], dict):  # a rule across keys: the keys say it, not the dict
        return f"{where}: {message}"
    return f"{where}: {error['input']!r} is not allowed: {message}"


def _where(label: str, root: yaml.Node | None, loc: tuple[int | str, ...]) -> str:
    """``FILE: line N: key.path``, or without the line where the key is not in the file."""
    key = ".".join(str(part) for part in loc) or "<top level>"
    line = _line_of(root, loc)
    return f"{label}: line {line}: {key}" if line else f"{label}: {key}"


def _yaml_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's own tags (union members, discriminator values) from an error path."""
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and (
            (part in ("synthetic", "images", "picamera2", "video") and out[-1:] == ["source"])
            or part in ("int", "literal['auto']", "constrained-int")
            or part.startswith(("function-", "literal["))
        ):
            continue
        out.append(part)
    return tuple(out)


def _allowed_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = AppConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return "see configs/edgeeye.yaml"
    return ", ".join(model.model_fields)


def _source_types() -> str:
    return "synthetic, images, picamera2, video"


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based YAML line of a key path, or of its nearest existing parent."""
    node = root
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


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
            where = _where(label, root, ("model", key))
            raise ConfigError(f"{where}: {str(value)!r} is not allowed: no such file ({resolved})")
        updates[key] = resolved
    if config.model.path is not None and config.model.labels is None:
        where = _where(label, root, ("model", "path")).replace("model.path", "model.labels")
        raise ConfigError(f"{where}: required key is missing (model.path needs a labels file)")
    if config.model.path is None and config.model.name is None:
        raise ConfigError(f"{label}: model: set either model.name or model.path and model.labels")
    if config.model.path is None:
        from edgeeye.zoo import load_manifest

        known = load_manifest()
        if config.model.name not in known:
            where = _where(label, root, ("model", "name"))
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

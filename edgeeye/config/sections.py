"""The config file's sections: one frozen, validated model each.

``app.py`` puts them together into ``AppConfig`` and loads the YAML; the modules that
use a section import its model from here.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from edgeeye.config.topic_names import is_topic_prefix

# Device ids and topic prefixes become MQTT topic levels: the rule is config.topic_names.


def count_or_auto(low: int, high: int) -> Callable[[Any], Any]:
    """A validator for 'an integer in range, or auto' that gives one clear message."""

    def check(value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        # isascii: "²".isdigit() is true but int() refuses it; len: int() refuses 5000 digits.
        digits = isinstance(value, str) and value.isascii() and value.isdigit()
        if digits and len(value) <= 6 and low <= int(value) <= high:
            return int(value)
        raise ValueError(f"must be a whole number from {low} to {high}, or 'auto'")

    return check


def zero_or_at_least(floor: float, unit: str, zero_means: str) -> AfterValidator:
    """For a knob whose 0 switches it off and whose tiny values would make the appliance
    spin (a heartbeat every nanosecond): 0, or at least ``floor``."""

    def check(value: float) -> float:
        if 0 < value < floor:
            raise ValueError(f"must be 0 ({zero_means}) or at least {floor:g}{unit}")
        return value

    return AfterValidator(check)


def _no_control_characters(value: str) -> str:
    """Labels never hold control characters (``load_labels`` refuses them), so an entry
    with one can only be a mistake, or an attack on whatever displays it."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise ValueError(f"must not contain control characters (U+{ord(char):04X})")
    return value


#: A label in ``publish.include``/``exclude``: as long as ``load_labels`` allows.
LabelName = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_no_control_characters)
]


class Frozen(BaseModel):
    """Unknown keys are errors; a loaded config never changes.  No number may be NaN or
    infinite (YAML's ``.nan``, JSON's ``Infinity``): every range check passes or fails
    them in surprising ways."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SyntheticSourceConfig(Frozen):
    """Generated frames, for benchmarks and the demo."""

    type: Literal["synthetic"] = "synthetic"
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    # No camera limits generated frames; the benchmark offers small models thousands a second.
    # 0 or at least 0.01 (a frame every 100 s): below that the pacer would sleep for years.
    fps: Annotated[float, zero_or_at_least(0.01, "", "unpaced")] = Field(30.0, ge=0, le=20_000)
    stamp: bool = False


class ImagesSourceConfig(Frozen):
    """A file, folder or glob of JPEG/PNG/BMP files."""

    type: Literal["images"]
    path: str = Field(min_length=1)
    loop: bool = True
    #: 0 (as fast as the pipeline takes them) or 0.01-1000.
    fps: Annotated[float, zero_or_at_least(0.01, "", "unpaced")] = Field(0.0, ge=0, le=1000)


class Picamera2SourceConfig(Frozen):
    """A Raspberry Pi camera through picamera2; the lores stream is set to the model's size."""

    type: Literal["picamera2"]
    camera: int = Field(0, ge=0, le=15)
    main_size: tuple[
        Annotated[int, Field(ge=64, le=9152)], Annotated[int, Field(ge=64, le=6944)]
    ] = (
        1280,
        720,
    )
    # 0: picamera2's video default, 30 fps (FrameDurationLimits 33333 us), not "as fast as
    # the sensor goes"; else 0.01 (a 100 s frame) to 240.
    fps: Annotated[float, zero_or_at_least(0.01, "", "camera default")] = Field(0.0, ge=0, le=240)
    # auto: RGB888 on a Pi 5, YUV420 on a Pi 4 and earlier (picamera2's Platform).
    lores_format: Literal["auto", "YUV420", "RGB888"] = "auto"


class VideoSourceConfig(Frozen):
    """A video file or V4L2 device through OpenCV (optional extra ``video``)."""

    type: Literal["video"]
    path: str = Field(min_length=1)
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    #: 0 (the file's or device's own pace) or 0.01-1000.
    fps: Annotated[float, zero_or_at_least(0.01, "", "unpaced")] = Field(0.0, ge=0, le=1000)


SourceConfig = Annotated[
    SyntheticSourceConfig | ImagesSourceConfig | Picamera2SourceConfig | VideoSourceConfig,
    Field(discriminator="type"),
]


#: ``model.task``: what the model is taken for ("auto": what its outputs say).
TaskChoice = Literal["auto", "classify", "detect"]

#: ``model.min_score`` when it is not set: a classifier's top_k already limits what it
#: says, while a detector reports boxes down to scores of almost nothing.
DEFAULT_MIN_SCORE = {"classify": 0.0, "detect": 0.5}

Score = Annotated[float, Field(ge=0.0, le=1.0)]


class ModelConfig(Frozen):
    """Which model to run and how to read its output.

    Either ``name`` (a model from the manifest, found in ``EDGEEYE_MODEL_DIR``, the cache or
    among the built-in models) or ``path`` (your own file; ``path`` wins when both are
    set) with ``labels``, which may be left out when the model carries its labels in its
    TFLite metadata.  ``task`` auto tells a classifier from a detector by its outputs.
    """

    name: str | None = "mobilenet_v2_1.0_224_quant"
    path: Path | None = None
    labels: Path | None = None
    task: TaskChoice = "auto"
    top_k: int = Field(3, ge=1, le=100)
    #: Labels (and detections) scoring below this are not published; unset: 0 for a
    #: classifier, 0.5 for a detector.
    min_score: Score | None = None
    #: Per label, instead of ``min_score`` (for example ``person: 0.6``).
    min_score_per_label: dict[LabelName, Score] = Field(default_factory=dict, max_length=1000)
    threads: int = Field(1, ge=1, le=16)

    def min_score_for(self, task: str) -> float:
        """``min_score``, or the default for the task ("classify" or "detect")."""
        return DEFAULT_MIN_SCORE[task] if self.min_score is None else self.min_score


class RingConfig(Frozen):
    """The shared-memory frame ring. ``slots`` = 'auto' is one per worker plus two.

    One frame waiting per worker keeps every worker busy; each further slot only adds a
    frame's worth of latency under load (measured with ``edgeeye bench``)."""

    slots: Annotated[int | Literal["auto"], BeforeValidator(count_or_auto(2, 256))] = "auto"


class MqttTlsConfig(Frozen):
    """TLS to the broker: the CA that signed its certificate, and ours if it asks for one."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None


def _topic_prefix(value: str) -> str:
    if not is_topic_prefix(value):
        raise ValueError(
            "must be 1-4 topic levels of letters, digits, '_', '-', '.' separated by '/'"
            " (no '+', '#', leading or trailing '/')"
        )
    return value


class MqttConfig(Frozen):
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
    #: Seconds between stats messages (1-3600: each one is a JSON document on the wire).
    stats_interval: float = Field(10.0, ge=1, le=3600)

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

    @field_validator("topic_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        return _topic_prefix(value)


class OutboxConfig(Frozen):
    """Results kept on disk while the broker is unreachable, delivered in order later.

    ``path`` 'auto' is ``outbox-<device_id>.sqlite3`` in systemd's StateDirectory, or
    else in ``$XDG_STATE_HOME/edgeeye`` (``~/.local/state/edgeeye``).
    """

    path: Literal["auto"] | Path = "auto"
    max_mb: float = Field(64.0, ge=0.01, le=100_000)


class SupervisorConfig(Frozen):
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
    #: At least ``source_backoff_s`` (checked below).
    source_backoff_max_s: float = Field(30.0, ge=0.1, le=3600)
    #: No frame classified for this long (capture retries aside) means stalled: the
    #: systemd watchdog stops being fed.  Keep it above the source's frame interval.
    progress_timeout_s: float = Field(30.0, ge=1, le=86400)

    @model_validator(mode="after")
    def _backoff_grows(self) -> SupervisorConfig:
        if self.source_backoff_max_s < self.source_backoff_s:
            raise ValueError(
                f"source_backoff_max_s ({self.source_backoff_max_s:g}) must be at least"
                f" source_backoff_s ({self.source_backoff_s:g})"
            )
        return self


class HomeAssistantConfig(Frozen):
    """MQTT discovery: the appliance shows up in Home Assistant as a device.

    ``discovery_format``: ``device``, one retained config for the whole device (Home
    Assistant 2024.11 and later); ``entity``, one per entity, for older installations.
    Either moves the entities of the other over with Home Assistant's migration, keeping
    their ids and history."""

    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_format: Literal["device", "entity"] = "device"

    @field_validator("discovery_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        return _topic_prefix(value)


class PublishConfig(Frozen):
    """Which results are sent: every frame, or only when what the camera sees changes.

    A result's state is its top-1 label (after ``include``/``exclude`` and
    ``model.min_score``), and whether that label's score is at least ``score_threshold``
    (when set).  Remote control (``remote_control``) may change these while running.
    """

    mode: Literal["every_frame", "on_change"] = "every_frame"
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)
    #: on_change: after a change is sent, the next waits this long (flicker between two
    #: labels sends one change per hold, not one per frame).  Snapshots follow it too.
    #: 0 (no hold) or 0.05-3600 s.
    hold_s: Annotated[float, zero_or_at_least(0.05, " s", "no hold")] = Field(1.0, ge=0.0, le=3600)
    #: At most this many results a second: 0 (no limit) or 0.01 (one per 100 s) to 1000.
    max_rate: Annotated[float, zero_or_at_least(0.01, "", "no limit")] = Field(0.0, ge=0.0, le=1000)
    #: on_change: with nothing sent for this long, the current state is sent again:
    #: 0 (never) or 1-86400 s (a heartbeat a nanosecond would be every frame and more).
    heartbeat_s: Annotated[float, zero_or_at_least(1, " s", "off")] = Field(60.0, ge=0.0, le=86400)
    #: Only these labels are published (empty: all); ``exclude`` are never published.
    #: At most 1000 labels of 1-200 characters each, no control characters: remote
    #: commands set these too.
    include: tuple[LabelName, ...] = Field((), max_length=1000)
    exclude: tuple[LabelName, ...] = Field((), max_length=1000)


class SnapshotConfig(Frozen):
    """A small JPEG of the frame behind each label change, on ``<prefix>/<device>/snapshot``.

    The picture is the frame as the model saw it (the model's input), scaled to
    ``width`` x ``height`` (default: the model's input size).  ``mode``: ``frame`` as it
    is; ``boxes`` with the detections (or regions) and their labels drawn; ``crop`` the
    best detection alone; ``auto`` is boxes for a detector or with regions, else frame."""

    enabled: bool = False
    mode: Literal["auto", "frame", "boxes", "crop"] = "auto"
    width: int | None = Field(None, ge=16, le=1920)
    height: int | None = Field(None, ge=16, le=1080)
    quality: int = Field(75, ge=10, le=95)
    retain: bool = False


class RemoteControlConfig(Frozen):
    """Accept live settings on ``<prefix>/<device>/set/...`` (see the README).

    ``allow``: the settings a remote command may change; a command for any other is
    refused.  ``snapshot`` must be listed explicitly to let a remote command switch
    snapshots on: unless it is allowed, a remote ``set/snapshot on`` is refused, so a
    camera whose YAML says ``snapshot.enabled: false`` never sends pictures of the room
    because someone who can publish to the broker asked it to."""

    enabled: bool = False
    allow: tuple[Literal["min_score", "publish", "snapshot"], ...] = ("min_score", "publish")


class LoggingConfig(Frozen):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

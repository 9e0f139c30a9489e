"""Remote control: live settings from ``<prefix>/<device_id>/set/...``, validated.

Opt-in (``remote_control.enabled``), and per setting (``remote_control.allow``, by default
``min_score`` and ``publish``; ``snapshot`` only when listed, since it turns camera
pictures on).  The accepted topics, under ``<prefix>/<device>/set/``:

- ``min_score``: a number from 0 to 1;
- ``publish``: a JSON object with any of the ``publish`` section's keys;
- ``publish/<key>``: one of those keys' value (``on_change``, ``2.5``, ``["cat"]``);
- ``snapshot``: ``on`` or ``off`` (also ``true``/``false``, ``1``/``0``).

Anything else, or a value the config file would refuse, is rejected with one line saying
why; nothing is applied halfway.  A command is bounded before it is parsed (size, nesting,
value types), and commands beyond ``CommandGate``'s rate are dropped unanswered, so a
flood costs a counter, not a reply and a log line each.  Settings changed this way last
until the next restart or config reload: the YAML file stays the source of truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError

from edgeeye.config.app import AppConfig
from edgeeye.config.messages import describe
from edgeeye.config.sections import PublishConfig
from edgeeye.errors import EdgeeyeError
from edgeeye.publish.policy import LiveSettings

ACCEPTED = ("min_score", "publish", "publish/<key>", "snapshot")
_SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
MAX_PAYLOAD = 4096
#: A publish setting is a scalar or a list of labels: an object of lists at most.
MAX_NESTING = 2
#: Commands a second, sustained, and the burst allowed on top (Home Assistant sends a few
#: at once when an automation sets several values).
COMMAND_RATE = 2.0
COMMAND_BURST = 20


class ControlError(EdgeeyeError):
    """A remote setting that was not applied; the message says why, in one line."""


class CommandGate:
    """A token bucket: ``admit()`` is False for commands beyond the rate, which are counted
    in ``dropped`` and not answered (``take_dropped`` reports them, once per summary)."""

    def __init__(self, rate: float = COMMAND_RATE, burst: int = COMMAND_BURST) -> None:
        self.rate = rate
        self.burst = burst
        self.dropped = 0  # since the start
        self._unreported = 0
        self._tokens = float(burst)
        self._last = time.monotonic()

    def admit(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.dropped += 1
        self._unreported += 1
        return False

    def take_dropped(self) -> int:
        """Commands dropped since the last call."""
        count, self._unreported = self._unreported, 0
        return count


def subscribe_commands(client: mqtt.Client, config: AppConfig) -> None:
    """Subscribe to ``<prefix>/<device>/set/#`` (at every connect)."""
    commands = config.topic("set/#")
    if config.mqtt.protocol == "5":
        # MQTT 5 can keep the retain flag on live messages, so a retained command is
        # refused however it arrives; on 3.1.1 only the broker's stored copy shows it.
        client.subscribe(commands, options=SubscribeOptions(1, retainAsPublished=True))
    else:
        client.subscribe(commands, qos=1)


def receive_command(
    settings: LiveSettings, config: AppConfig, message: mqtt.MQTTMessage
) -> LiveSettings:
    """The settings after a message on ``set/...``; raises ControlError."""
    leaf = _printable(message.topic.removeprefix(config.topic("set/")))  # for the messages
    if message.retain:
        raise ControlError(f"set/{leaf}: retained commands are ignored (publish without retain)")
    return apply_command(
        settings, leaf, bytes(message.payload), allowed=config.remote_control.allow
    )


def apply_command(
    settings: LiveSettings, leaf: str, payload: bytes, *, allowed: Collection[str]
) -> LiveSettings:
    """The settings after the command ``set/<leaf>`` with ``payload``; raises ControlError.

    ``allowed`` is ``remote_control.allow``: the settings a command may change.
    """
    leaf = _printable(leaf)  # it goes into every message; a valid leaf is unchanged
    if len(payload) > MAX_PAYLOAD:
        raise ControlError(f"set/{leaf}: payload over {MAX_PAYLOAD} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ControlError(f"set/{leaf}: payload is not UTF-8 text") from None
    setting = leaf.split("/", 1)[0]
    if setting in ("min_score", "snapshot", "publish") and setting not in allowed:
        raise ControlError(
            f"set/{leaf}: not allowed by the config (add {setting} to remote_control.allow)"
        )
    if leaf == "min_score":
        return replace(settings, min_score=_score(text))
    if leaf == "snapshot":
        if text.lower() not in _SWITCH:
            raise ControlError(f"set/snapshot: {_excerpt(text)} is not allowed: must be on or off")
        return replace(settings, snapshot_enabled=_SWITCH[text.lower()])
    if leaf == "publish":
        update = _value(text, leaf)
        if not isinstance(update, dict):
            raise ControlError("set/publish: must be a JSON object of publish settings")
        return replace(settings, publish=_publish(settings.publish, update, "set/publish"))
    if leaf.startswith("publish/") and leaf.count("/") == 1:
        key = leaf.removeprefix("publish/")
        update = {key: _value(text, leaf)}
        return replace(settings, publish=_publish(settings.publish, update, "set/publish"))
    raise ControlError(
        f"set/{leaf}: not a setting that can be changed remotely"
        f" (accepted: {', '.join('set/' + name for name in ACCEPTED)})"
    )


def _value(text: str, leaf: str) -> Any:
    """JSON if it parses, else the text itself (so ``on_change`` needs no quotes).

    The nesting is measured before parsing: ``json.loads`` recurses once per level.
    """
    if _nesting(text) > MAX_NESTING:
        raise ControlError(f"set/{leaf}: nested deeper than {MAX_NESTING} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def _no_constant(name: str) -> float:
    """NaN and Infinity are not numbers a setting can take."""
    raise ValueError(name)


def _nesting(text: str) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, brackets inside strings aside."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ControlError(f"set/min_score: {_excerpt(text)} is not allowed: must be from 0 to 1")
    return value


def _publish(current: PublishConfig, update: dict[str, Any], label: str) -> PublishConfig:
    try:
        return PublishConfig.model_validate({**current.model_dump(), **update})
    except ValidationError as exc:
        raise ControlError(describe(exc, label, None, {}, PublishConfig)) from None
    except (RecursionError, MemoryError):
        raise ControlError(f"{label}: value too large or too deeply nested") from None


def _excerpt(text: str, limit: int = 40) -> str:
    """A value for a message: its repr (control characters escaped), cut to ``limit``."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def _printable(text: str, limit: int = 80) -> str:
    """``text`` for a log line: control characters escaped, at most ``limit`` characters."""
    cleaned = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
    return cleaned + ("…" if len(text) > limit else "")

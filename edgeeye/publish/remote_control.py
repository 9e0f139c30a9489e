"""Remote control: live settings from ``<prefix>/<device_id>/set/...``, validated.

Opt-in (``remote_control.enabled``).  The accepted topics, under ``<prefix>/<device>/set/``:

- ``min_score``: a number from 0 to 1;
- ``publish``: a JSON object with any of the ``publish`` section's keys;
- ``publish/<key>``: one of those keys' value (``on_change``, ``2.5``, ``["cat"]``);
- ``snapshot``: ``on`` or ``off`` (also ``true``/``false``, ``1``/``0``).

Anything else, or a value the config file would refuse, is rejected with one line saying
why; nothing is applied halfway.  Settings changed this way last until the next restart
or config reload: the YAML file stays the source of truth.
"""

from __future__ import annotations

import json
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


class ControlError(EdgeeyeError):
    """A remote setting that was not applied; the message says why, in one line."""


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
    leaf = message.topic.removeprefix(config.topic("set/"))
    if message.retain:
        raise ControlError(f"set/{leaf}: retained commands are ignored (publish without retain)")
    return apply_command(settings, leaf, bytes(message.payload))


def apply_command(settings: LiveSettings, leaf: str, payload: bytes) -> LiveSettings:
    """The settings after the command ``set/<leaf>`` with ``payload``; raises ControlError."""
    if len(payload) > MAX_PAYLOAD:
        raise ControlError(f"set/{leaf}: payload over {MAX_PAYLOAD} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ControlError(f"set/{leaf}: payload is not UTF-8 text") from None
    if leaf == "min_score":
        return replace(settings, min_score=_score(text))
    if leaf == "snapshot":
        if text.lower() not in _SWITCH:
            raise ControlError(f"set/snapshot: {text!r} is not allowed: must be on or off")
        return replace(settings, snapshot_enabled=_SWITCH[text.lower()])
    if leaf == "publish":
        update = _value(text)
        if not isinstance(update, dict):
            raise ControlError("set/publish: must be a JSON object of publish settings")
        return replace(settings, publish=_publish(settings.publish, update, "set/publish"))
    if leaf.startswith("publish/") and leaf.count("/") == 1:
        key = leaf.removeprefix("publish/")
        update = {key: _value(text)}
        return replace(settings, publish=_publish(settings.publish, update, "set/publish"))
    raise ControlError(
        f"set/{leaf}: not a setting that can be changed remotely"
        f" (accepted: {', '.join('set/' + name for name in ACCEPTED)})"
    )


def _value(text: str) -> Any:
    """JSON if it parses, else the text itself (so ``on_change`` needs no quotes)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ControlError(f"set/min_score: {text!r} is not allowed: must be from 0 to 1")
    return value


def _publish(current: PublishConfig, update: dict[str, Any], label: str) -> PublishConfig:
    try:
        return PublishConfig.model_validate({**current.model_dump(), **update})
    except ValidationError as exc:
        raise ControlError(describe(exc, label, None, {}, PublishConfig)) from None

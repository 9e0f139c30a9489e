"""Remote commands as they arrive, in the publisher thread: admitted, applied or refused.

What a command means is ``publish.remote_control``'s; this is the desk that receives them:
it drops what exceeds the command rate (counted, reported once per stats interval), answers
every refusal on ``<prefix>/<device>/error`` with one line, and never lets an error in a
command end the thread it runs in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import paho.mqtt.client as mqtt

from edgeeye.config.app import AppConfig
from edgeeye.publish.payloads import error_payload
from edgeeye.publish.policy import LiveSettings
from edgeeye.publish.remote_control import CommandGate, ControlError, receive_command

log = logging.getLogger(__name__)


class CommandDesk:
    """Takes ``set/...`` messages for a publisher.

    ``settings`` reads the live settings, ``apply`` applies new ones, ``answer`` publishes an
    error document on the device's ``error`` topic.
    """

    def __init__(
        self,
        config: AppConfig,
        settings: Callable[[], LiveSettings],
        apply: Callable[[LiveSettings], None],
        answer: Callable[[bytes], object],
    ) -> None:
        self.config = config  # replaced on reload
        self._settings = settings
        self._apply = apply
        self._answer = answer
        self.gate = CommandGate()

    def on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        """paho's on_message: beyond the command rate, a command is dropped unanswered."""
        if not self.gate.admit():
            return
        try:
            settings = receive_command(self._settings(), self.config, message)
        except ControlError as exc:
            self._refuse(message, str(exc))
            return
        except Exception as exc:  # our bug, whatever the input: answer, and keep the link
            log.exception("remote command on %r failed", message.topic[:120])
            self._refuse(message, f"internal error: {type(exc).__name__}")
            return
        log.info("remote setting applied: %s", message.topic)
        self._apply(settings)

    def _refuse(self, message: mqtt.MQTTMessage, reason: str) -> None:
        log.warning("remote setting rejected: %s", reason)
        raw = bytes(message.payload)
        self._answer(error_payload(self.config.device_id, message.topic, raw, reason))

    def report_dropped(self) -> None:
        """One line for the commands dropped since the last report, if any."""
        if dropped := self.gate.take_dropped():
            log.warning(
                "%d remote commands dropped unanswered: more than %.0f a second",
                dropped,
                self.gate.rate,
            )

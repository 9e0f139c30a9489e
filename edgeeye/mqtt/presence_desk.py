"""Sends presence: each entry's retained state and its arrival and departure events.

The publisher thread hands every result to ``observe`` and calls ``tick`` on its loop;
``republish`` at every connect sends each entry's current state again, so a broker that
lost its retained messages (or one restarted without persistence) is told what is
present now.
"""

from __future__ import annotations

from collections.abc import Callable

import paho.mqtt.client as mqtt

from edgeeye.config.app import AppConfig
from edgeeye.pipeline.messages import Result
from edgeeye.publish.presence import PresenceState, PresenceTracker, event_payload, state_payload

#: (leaf, payload, retain, client or None) -> the message's info, as ``Sender.send``.
Send = Callable[[str, bytes, bool, mqtt.Client | None], mqtt.MQTTMessageInfo]


class PresenceDesk:
    def __init__(self, config: AppConfig, send: Send) -> None:
        self._device_id = config.device_id
        self._entries = config.presence
        self._send = send
        self.tracker = PresenceTracker(config.presence)
        self.changes_sent = 0

    def reconfigure(self, config: AppConfig) -> None:
        """New entries start over (off); unchanged ones keep their state."""
        self._device_id = config.device_id
        if config.presence != self._entries:
            self._entries = config.presence
            self.tracker = PresenceTracker(config.presence)
            self.republish(None)

    def carry_on(self, predecessor: PresenceDesk) -> None:
        """A new publisher (a broker change) goes on from what the old one knew."""
        if predecessor._entries == self._entries:
            self.tracker = predecessor.tracker
            self.changes_sent = predecessor.changes_sent

    def observe(self, result: Result, now: float, floor: Callable[[str], float]) -> None:
        self._publish(self.tracker.observe(result, now, floor))

    def tick(self, now: float) -> None:
        self._publish(self.tracker.tick(now))

    def next_due(self, now: float) -> float | None:
        return self.tracker.next_due(now)

    def republish(self, client: mqtt.Client | None) -> list[mqtt.MQTTMessageInfo]:
        """Every entry's current state (retained): at connect, and after a reload."""
        return [
            self._send(_leaf(state), state_payload(self._device_id, state), True, client)
            for state in self.tracker.states()
        ]

    def _publish(self, changes: list[PresenceState]) -> None:
        for state in changes:
            self._send(_leaf(state), state_payload(self._device_id, state), True, None)
            self._send(_leaf(state) + "/event", event_payload(self._device_id, state), False, None)
            self.changes_sent += 1


def _leaf(state: PresenceState) -> str:
    return f"presence/{state.key}"

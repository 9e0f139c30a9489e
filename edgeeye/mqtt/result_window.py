"""Where each result goes: to the broker while it takes them, to the outbox while it does not.

A result is handed to paho only while the link is up, fewer than ``MAX_UNACKED`` messages
wait for an acknowledgement, and the outbox is empty; otherwise it joins the outbox's
tail, so that the broker sees results in the order they were made.  Once the link is back
the outbox is sent oldest first, as many rows at a time as the window has room for, and a
row is deleted only when the broker has acknowledged it (``acknowledgements``).

Only the thread that serves the network loop uses a ``ResultWindow``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties

from edgeeye.mqtt.acknowledgements import OUTBOX_ROW, RESULT, Deliveries
from edgeeye.mqtt.outbox import Outbox

#: Messages handed to paho and not yet acknowledged; beyond it results go to the outbox,
#: so at most this many live only in memory if the broker stalls and we are then killed.
MAX_UNACKED = 200


class ResultWindow:
    """The window of unacknowledged results on ``client`` and the ``outbox`` behind it;
    ``properties()`` gives a result's MQTT 5 properties under the current config."""

    def __init__(
        self,
        client: mqtt.Client,
        outbox: Outbox,
        deliveries: Deliveries,
        properties: Callable[[], Properties | None],
    ) -> None:
        self._client = client
        self.outbox = outbox
        self._deliveries = deliveries
        self._properties = properties

    def offer(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish a result now if the broker may take it, else keep it in the outbox."""
        if self.outbox.rows or not self._client.is_connected() or self._full():
            self.outbox.put(topic, payload, qos)
            return
        info = self._client.publish(topic, payload, qos=qos, properties=self._properties())
        self._deliveries.track(info, RESULT)

    def flush(self) -> None:
        """Forget acknowledged rows and send the next ones, oldest first, within the window."""
        self.remove_acknowledged()
        if not self.outbox.rows or not self._client.is_connected():
            return
        room = MAX_UNACKED - self._deliveries.unacknowledged
        if room > 0:
            properties = self._properties()
            for row_id, topic, payload, qos in self.outbox.unsent(room):
                # QoS 1 at least: a row is deleted only when the broker has it.
                info = self._client.publish(topic, payload, qos=max(1, qos), properties=properties)
                self._deliveries.track(info, OUTBOX_ROW, row_id)

    def drain(self, serve: Callable[[float], None], until: float) -> None:
        """Send the outbox while the link is up, until it is empty or ``until`` (monotonic);
        ``serve(seconds)`` runs the network loop in between."""
        while self.outbox.rows and self._client.is_connected() and time.monotonic() < until:
            self.flush()
            serve(0.02)

    def remove_acknowledged(self) -> None:
        self.outbox.remove(self._deliveries.take_acknowledged_rows())

    def _full(self) -> bool:
        return self._deliveries.unacknowledged >= MAX_UNACKED

"""A real MQTT client that records what the appliance publishes."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from edgeeye.tools.local_broker import LocalBroker

Messages = list[mqtt.MQTTMessage]


def collect(
    arriving: queue.Queue[mqtt.MQTTMessage],
    received: Messages,
    until: Callable[[Messages], bool],
    timeout: float,
) -> Messages:
    """Move messages from ``arriving`` to ``received`` until ``until(received)`` is true or
    ``timeout`` passes; returns ``received``."""
    deadline = time.monotonic() + timeout
    while not until(received) and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            received.append(arriving.get(timeout=0.1))
    return received


class Subscriber:
    """A real MQTT client that records every message on ``topic`` as it arrives."""

    def __init__(
        self, broker: LocalBroker, topic: str = "#", protocol: int = mqtt.MQTTv311, qos: int = 1
    ) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.received: Messages = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=protocol
        )
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=qos)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")

    def collect(self, until: Callable[[Messages], bool], timeout: float) -> Messages:
        """Gather messages until ``until(received)`` is true or ``timeout`` passes."""
        return collect(self.messages, self.received, until, timeout)

    def drain(self, seconds: float) -> Messages:
        return self.collect(lambda _r: False, seconds)

    def on(self, suffix: str) -> Messages:
        return [m for m in self.received if m.topic.endswith(suffix)]

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        """Send a message from this client (a command, say), waiting until it is out."""
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def json_on(self, suffix: str) -> list[Any]:
        return [json.loads(m.payload) for m in self.received if m.topic.endswith(suffix)]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

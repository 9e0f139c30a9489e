"""How each kind of message goes out: its topic, QoS, retain flag and MQTT 5 properties.

Every message lives under ``<prefix>/<device>/<leaf>`` (``AppConfig.topic``) and is
tracked until the broker has it (``acknowledgements``), so the last stats count every
acknowledged result and ``stop()`` knows when ``offline`` has arrived.  Results go through
``result_window`` instead, which decides between the broker and the outbox.

paho's ``publish`` is thread-safe: the snapshot encoder and a reload publish from their
own threads, and the network loop is woken to write what they queued.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties

from edgeeye.config.app import AppConfig
from edgeeye.mqtt.acknowledgements import Deliveries
from edgeeye.mqtt.client import JPEG, JSON, PropertiesCache, message_properties
from edgeeye.publish.snapshots import Snapshot


class Sender:
    """Publishes on ``client`` for ``config``, tracking each message in ``deliveries``."""

    def __init__(self, config: AppConfig, client: mqtt.Client, deliveries: Deliveries) -> None:
        self._client = client
        self._deliveries = deliveries
        self.reconfigure(config)

    def reconfigure(self, config: AppConfig) -> None:
        self._config = config
        self._properties = PropertiesCache(config.mqtt)
        self.result_topic = config.topic("result")

    def send(
        self,
        leaf: str,
        payload: bytes | str,
        *,
        content_type: str = JSON,
        retain: bool = False,
        expires: bool = False,
        client: mqtt.Client | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1 on ``<prefix>/<device>/<leaf>``; ``client`` is paho's own in
        its callbacks (``on_connect``)."""
        info = (client or self._client).publish(
            self._config.topic(leaf),
            payload,
            qos=1,
            retain=retain,
            properties=self._properties.get(content_type, expires),
        )
        self._deliveries.track(info)
        return info

    def result_properties(self) -> Properties | None:
        return self._properties.get(JSON, expires=True)

    def snapshot(self, snapshot: Snapshot) -> bool:
        """A snapshot's JPEG, its sequence and label as user properties; False if paho's
        queue was full."""
        settings = self._config.snapshot
        info = self._client.publish(
            self._config.topic("snapshot"),
            snapshot.jpeg,
            qos=self._config.mqtt.qos,
            retain=settings.retain,
            properties=message_properties(
                self._config.mqtt,
                JPEG,
                expires=not settings.retain,
                user=(("sequence", str(snapshot.sequence)), ("label", snapshot.label or "")),
            ),
        )
        return info.rc == mqtt.MQTT_ERR_SUCCESS

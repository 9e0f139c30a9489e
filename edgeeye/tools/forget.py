"""``edgeeye forget``: take a decommissioned device off the broker and out of Home Assistant.

A device leaves retained messages behind: its discovery configs (so Home Assistant keeps
its entities), its last status, stats, settings and snapshot.  This publishes an empty
retained message on each of those topics, which deletes them from the broker and makes
Home Assistant remove the entities and then the device.  It refuses while the device says
it is online, since a running appliance would publish them all again at its next connect.
"""

from __future__ import annotations

import os
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeeye.config.app import AppConfig
from edgeeye.errors import BrokerRefused, BrokerUnreachable, ConfigError
from edgeeye.homeassistant.discovery import removal_messages
from edgeeye.mqtt.client import make_client
from edgeeye.publish.payloads import STATUS_ONLINE

#: The device's own retained topics, besides the discovery configs.
RETAINED_LEAVES = ("status", "stats", "settings", "snapshot")


def forget(config: AppConfig, force: bool = False, timeout: float = 10.0) -> list[str]:
    """Clear every retained topic of ``config``'s device; returns the topics cleared."""
    broker = f"{config.mqtt.host}:{config.mqtt.port}"
    connected = threading.Event()
    refused: list[str] = []
    status: list[bytes] = []
    client = make_client(config.mqtt, f"edgeeye-forget-{os.getpid()}")

    def on_connect(
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
        else:
            client.subscribe(config.topic("status"), qos=1)
        connected.set()

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, message: status.append(bytes(message.payload))
    try:
        client.connect(config.mqtt.host, config.mqtt.port, 30)
    except OSError as exc:
        raise BrokerUnreachable(f"broker {broker}: cannot connect: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise BrokerUnreachable(f"broker {broker}: no answer in {timeout:.0f} s")
        if refused:
            raise BrokerRefused(f"broker {broker} refused the connection: {refused[0]}")
        time.sleep(1.0)  # a retained status arrives right after the subscription
        if status and status[-1] == STATUS_ONLINE.encode() and not force:
            raise ConfigError(
                f"device {config.device_id} is online on broker {broker}: stop it first"
                " (systemctl disable --now edgeeye), or use --force"
            )
        topics = [topic for topic, _ in removal_messages(config)]
        topics += [config.topic(leaf) for leaf in RETAINED_LEAVES]
        sent = [client.publish(topic, b"", qos=1, retain=True) for topic in topics]
        deadline = time.monotonic() + timeout
        for info in sent:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        if not all(info.is_published() for info in sent):
            raise BrokerUnreachable(f"broker {broker}: did not acknowledge in {timeout:.0f} s")
        return topics
    finally:
        client.disconnect()
        client.loop_stop()

"""``edgeeye forget``: take a decommissioned device off the broker and out of Home Assistant.

A device leaves retained messages behind: its discovery configs (so Home Assistant keeps
its entities), its last status, stats, settings and snapshot.  This publishes an empty
retained message on each of those topics, which deletes them from the broker and makes
Home Assistant remove the entities and then the device.  It refuses while the device says
it is online, since a running appliance would publish them all again at its next connect;
and it refuses when a discovery config under the node it would clear belongs to another
device (edgeeye 0.1.0 gave ``cam.1`` and ``cam_1`` the same node), rather than delete that
device's entities.  With the broker's ACL (configs/mosquitto/edgeeye.acl) a device's own
credentials may clear its own topics and nobody else's; an MQTT 5 broker says so when it
drops a publish, and forget then fails naming the topic.
"""

from __future__ import annotations

import json
import os
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeeye.config.app import AppConfig
from edgeeye.errors import BrokerRefused, BrokerUnreachable, ConfigError
from edgeeye.homeassistant.discovery import (
    config_filter,
    device_topic,
    legacy_node_id,
    node_id,
    removal_messages,
)
from edgeeye.mqtt.client import make_client
from edgeeye.publish.payloads import STATUS_ONLINE

#: The device's own retained topics, besides the discovery configs.
RETAINED_LEAVES = ("status", "stats", "settings", "snapshot")
#: Retained messages arrive right after the subscription is granted; this is ample.
RETAINED_WAIT_S = 1.0


def forget(config: AppConfig, force: bool = False, timeout: float = 10.0) -> list[str]:
    """Clear every retained topic of ``config``'s device; returns the topics cleared."""
    broker = f"{config.mqtt.host}:{config.mqtt.port}"
    connected = threading.Event()
    refused: list[str] = []
    status: list[bytes] = []
    retained_configs: dict[str, bytes] = {}
    publish_failures: dict[int, str] = {}
    # Its node and 0.1.0's, each once (one and the same for an id without '.').
    nodes = dict.fromkeys((node_id(config), legacy_node_id(config)))
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
            wanted = [config.topic("status"), *(config_filter(config, node) for node in nodes)]
            wanted += [device_topic(config), config.topic("presence/+")]
            client.subscribe([(topic, 1) for topic in wanted])
        connected.set()

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == config.topic("status"):
            status.append(bytes(message.payload))
        elif message.payload:
            retained_configs[message.topic] = bytes(message.payload)

    def on_publish(
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        # MQTT 5 only: a 3.1.1 broker acknowledges a publish its ACL dropped as a success.
        if reason_code.is_failure:
            publish_failures[mid] = str(reason_code)

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_publish = on_publish
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
        time.sleep(RETAINED_WAIT_S)
        if status and status[-1] == STATUS_ONLINE.encode() and not force:
            raise ConfigError(
                f"device {config.device_id} is online on broker {broker}: stop it first"
                " (systemctl disable --now edgeeye), or use --force"
            )
        seen = dict(retained_configs)  # what the checks saw is what gets cleared
        _refuse_other_devices_configs(config, seen)
        topics = [message.topic for message in removal_messages(config)]
        # What an older release left under the legacy node (or an entity since dropped):
        # only configs seen there, all of them this device's by the check above.
        topics += sorted(topic for topic in seen if topic not in topics)
        topics += [config.topic(leaf) for leaf in RETAINED_LEAVES]
        topics += [config.topic(f"presence/{entry.key}") for entry in config.presence]
        topics = list(dict.fromkeys(topics))
        sent = {topic: client.publish(topic, b"", qos=1, retain=True) for topic in topics}
        deadline = time.monotonic() + timeout
        for info in sent.values():
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        if not all(info.is_published() for info in sent.values()):
            raise BrokerUnreachable(f"broker {broker}: did not acknowledge in {timeout:.0f} s")
        denied = [topic for topic, info in sent.items() if info.mid in publish_failures]
        if denied:
            user = config.mqtt.username or "anonymous"
            raise BrokerRefused(
                f"broker {broker} refused to clear {len(denied)} of {len(topics)} topics as"
                f" user {user} ({denied[0]}: {publish_failures[sent[denied[0]].mid]}):"
                f" forget device {config.device_id} with its own credentials"
            )
        return topics
    finally:
        client.disconnect()
        client.loop_stop()


def _refuse_other_devices_configs(config: AppConfig, retained: dict[str, bytes]) -> None:
    """Raise ConfigError if a retained config under this device's nodes points at topics
    outside ``<prefix>/<device_id>/``: clearing it would remove another device's entity."""
    own_tree = config.topic("")
    for topic in sorted(retained):
        try:
            document = json.loads(retained[topic])
        except (ValueError, RecursionError):
            continue  # not a config Home Assistant would use: nobody's entity
        if not isinstance(document, dict):
            continue
        # A device config holds its entities' configs as components (full or short keys).
        parts = [document]
        components = document.get("components", document.get("cmps"))
        if isinstance(components, dict):
            parts += [part for part in components.values() if isinstance(part, dict)]
        foreign = sorted(
            (key, value)
            for part in parts
            for key, value in part.items()
            if isinstance(key, str)
            and key.endswith("_topic")
            and isinstance(value, str)
            and not value.startswith(own_tree)
        )
        if foreign:
            key, value = foreign[0]
            raise ConfigError(
                f"device {config.device_id}: {topic} belongs to another device (its {key} is"
                f" {value}, not under {own_tree}): nothing cleared"
            )

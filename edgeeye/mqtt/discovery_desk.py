"""Publishes Home Assistant discovery: at every connect (a broker may have lost it), and
after a reload that changes what it says, with the entities the reload dropped removed."""

from __future__ import annotations

from collections.abc import Callable

import paho.mqtt.client as mqtt

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import retained_configs
from edgeeye.homeassistant.entities import Entity, entities_for
from edgeeye.inference.results import Task
from edgeeye.mqtt.client import JSON, message_properties


class DiscoveryDesk:
    def __init__(
        self,
        config: AppConfig,
        model_name: str,
        task: Task,
        track: Callable[[mqtt.MQTTMessageInfo], None],
    ) -> None:
        self.config, self.model_name, self.task = config, model_name, task
        self._track = track

    def publish(self, client: mqtt.Client, dropped: tuple[Entity, ...] = ()) -> None:
        """The retained configs (with discovery off, empty ones, which remove the
        device's entities); ``dropped``: entities a reload removed."""
        properties = message_properties(self.config.mqtt, JSON)
        for message in retained_configs(self.config, self.model_name, self.task, dropped):
            self._track(
                client.publish(
                    message.topic,
                    message.payload,
                    qos=1,
                    retain=message.retain,
                    properties=properties,
                )
            )

    def reconfigure(
        self, client: mqtt.Client, config: AppConfig, model_name: str, task: Task
    ) -> None:
        """A reload: published again if it changes the configs or drops an entity."""
        before = retained_configs(self.config, self.model_name, self.task)
        kept = {entity.object_id for entity in entities_for(config, task)}
        old = entities_for(self.config, self.task)
        dropped = tuple(entity for entity in old if entity.object_id not in kept)
        self.config, self.model_name, self.task = config, model_name, task
        if dropped or retained_configs(config, model_name, task) != before:
            self.publish(client, dropped)

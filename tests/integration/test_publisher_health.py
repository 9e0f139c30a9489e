"""The publisher's health, as the watchdog sees it, against a real broker: alive while
paho's network thread is, connected or retrying; broken when that thread is gone."""

from __future__ import annotations

import queue
import time

from edgeeye.config.app import AppConfig
from edgeeye.mqtt.publisher import Publisher
from edgeeye.publish.stats import PipelineCounts


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_dead_network_thread_is_a_health_problem_and_a_retrying_one_is_not(
    broker, subscriber_factory, private_state
):
    config = AppConfig.model_validate({"mqtt": {"host": broker.host, "port": broker.port}})
    subscriber = subscriber_factory(broker, "edgeeye/edgeeye/status")
    publisher = Publisher(config, "model", PipelineCounts, queue.Queue())
    publisher.start()
    try:
        subscriber.collect(lambda r: any(m.payload == b"online" for m in r), 10)
        assert publisher.health_problem() is None

        broker.stop()  # paho retries in the background: that is not a problem
        assert _wait(lambda: not publisher._client.is_connected())
        assert publisher.health_problem() is None

        publisher._client.loop_stop()  # what an exception escaping a callback used to do
        assert publisher.health_problem() == "the MQTT network thread has died"
    finally:
        publisher.stop(2.0)

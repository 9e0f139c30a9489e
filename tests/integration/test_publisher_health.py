"""The publisher's health, as the watchdog sees it, against a real broker: alive while the
publisher thread, which also serves paho's socket, runs, connected or retrying; broken
when that thread is gone."""

from __future__ import annotations

import time

import pytest

from edgeeye.config.app import AppConfig
from tests.support.publisher import started_publisher, wait_for


class _Broken(RuntimeError):
    pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_publisher_thread_is_a_health_problem_and_a_retrying_link_is_not(
    broker, subscriber_factory, private_state
):
    config = AppConfig.model_validate({"mqtt": {"host": broker.host, "port": broker.port}})
    subscriber = subscriber_factory(broker, "edgeeye/edgeeye/status")
    with started_publisher(config) as publisher:
        subscriber.collect(lambda r: any(m.payload == b"online" for m in r), 10)
        assert publisher.health_problem() is None

        broker.stop()  # the publisher thread retries in the background: not a problem
        assert wait_for(lambda: not publisher._client.is_connected(), 10)
        time.sleep(1.5)  # a failed try or two
        assert publisher.health_problem() is None

        broker.start()  # and it comes back by itself
        assert wait_for(publisher._client.is_connected, 15)
        assert publisher.health_problem() is None

        def tick(_now: float) -> None:
            raise _Broken("what a bug of ours in the thread would do")

        publisher.policy.tick = tick  # type: ignore[method-assign]
        assert wait_for(lambda: publisher.health_problem() is not None, 10)
        assert publisher.health_problem() == "the publisher thread has died"

"""The publisher thread serves paho's socket itself (``edgeeye.mqtt.network``): what that
must not cost, against a real mosquitto and real sockets.

- a connection try that hangs (a TLS port that never answers the hello) blocks only the
  connector thread: results keep moving to the outbox meanwhile;
- a message another thread publishes (the snapshot encoder, a reload) wakes the publisher
  thread, even when nothing else would wake it for a long time;
- with results flowing, every acknowledgement is still read and counted.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection

import pytest

from edgeeye.config.app import AppConfig
from edgeeye.mqtt import network, publisher
from edgeeye.mqtt.publisher import Publisher
from edgeeye.pipeline.messages import Result
from tests.support.certificates import make_certificates
from tests.support.publisher import started_publisher, wait_for


def _result(sequence: int) -> Result:
    return Result(
        sequence=sequence,
        capture_ts_ns=time.monotonic_ns(),
        tag=0,
        labels=[(286, "Egyptian cat", 0.8125)],
        inference_ms=9.0,
        worker_id=0,
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener takes connections into its backlog and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def _feed(publisher_under_test: Publisher) -> Connection:
    reader, writer = multiprocessing.Pipe(duplex=False)
    publisher_under_test.add_worker(0, reader)
    return writer


def test_results_reach_the_outbox_while_a_connection_try_hangs(
    silent_port, tmp_path, private_state
):
    files = make_certificates(tmp_path / "tls")
    config = AppConfig.model_validate(
        {"mqtt": {"port": silent_port, "tls": {"ca_file": str(files["ca"])}}}
    )
    with started_publisher(config) as under_test:
        writer = _feed(under_test)
        # The connector thread is now inside the TLS handshake, which paho lets run for
        # its connect_timeout (5 s).
        assert wait_for(lambda: under_test._network._connector is not None, 5)
        used = time.process_time()
        time.sleep(1.0)
        assert time.process_time() - used < 0.3, "the publisher thread spins while it waits"
        for sequence in range(40):
            writer.send(_result(sequence))
            time.sleep(0.01)
        assert wait_for(lambda: under_test._outbox.rows == 40, 3), under_test._outbox.rows
        connector = under_test._network._connector
        assert connector is not None and connector.is_alive(), "the try was still hanging"
        assert under_test.results_received == 40
        writer.close()


def test_another_threads_message_wakes_the_publisher_thread(
    broker, subscriber_factory, private_state, monkeypatch
):
    # Nothing but the other thread's message may wake the publisher thread in time.
    monkeypatch.setattr(publisher, "IDLE_WAIT_S", 60.0)
    monkeypatch.setattr(network, "MISC_INTERVAL_S", 60.0)
    config = AppConfig.model_validate(
        {"mqtt": {"host": broker.host, "port": broker.port, "stats_interval": 3600}}
    )
    subscriber = subscriber_factory(broker, "edgeeye/edgeeye/#")
    with started_publisher(config) as under_test:
        subscriber.collect(lambda r: any(m.payload == b"online" for m in r), 10)
        time.sleep(0.3)  # the publisher thread is back in its (60 s) wait
        under_test._client.publish("edgeeye/edgeeye/probe", b"from another thread", qos=1)
        received = subscriber.collect(lambda r: any(m.topic.endswith("/probe") for m in r), 20)
        probes = [m.payload for m in received if m.topic.endswith("/probe")]
        assert probes == [b"from another thread"]


def test_with_results_flowing_every_acknowledgement_is_counted(
    broker, subscriber_factory, private_state
):
    config = AppConfig.model_validate({"mqtt": {"host": broker.host, "port": broker.port}})
    subscriber = subscriber_factory(broker, "edgeeye/edgeeye/result")
    with started_publisher(config) as under_test:
        writer = _feed(under_test)
        assert wait_for(under_test._client.is_connected, 10)
        for sequence in range(300):  # 200 a second: acknowledgements ride on results
            writer.send(_result(sequence))
            time.sleep(0.005)
        received = subscriber.collect(lambda r: len(r) >= 300, 20)
        assert sorted(json.loads(m.payload)["sequence"] for m in received) == list(range(300))
        assert wait_for(lambda: under_test.results_published == 300, 10)
        assert under_test.deliveries.unacknowledged == 0
        writer.close()

"""The publisher thread serves paho's socket itself (``edgeeye.mqtt.network``): what that
must not cost, against a real mosquitto and real sockets.

- a connection try that hangs (a TLS port that never answers the hello) blocks only the
  connector thread: results keep moving to the outbox meanwhile;
- a message another thread publishes (the snapshot encoder, a reload) wakes the publisher
  thread, even when nothing else would wake it for a long time;
- with results flowing, every acknowledgement is still read and counted, many per read;
- a try that ends wakes the publisher thread, which takes its socket over at once;
- a try that outlives the stop closes what it opened and writes into nobody's descriptor.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import queue
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from edgeeye.config.app import AppConfig
from edgeeye.mqtt import network, publisher
from edgeeye.mqtt.publisher import Publisher
from edgeeye.pipeline.messages import Result
from edgeeye.publish.stats import PipelineCounts
from edgeeye.tools.local_broker import LocalBroker
from tests.support.certificates import make_certificates
from tests.support.mqtt import Subscriber
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
def silent_listener() -> Iterator[socket.socket]:
    """A listener that takes connections into its backlog and never says a word; closing
    it resets them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener
    listener.close()


@pytest.fixture
def silent_port(silent_listener) -> int:
    return silent_listener.getsockname()[1]


@pytest.fixture
def certificates(tmp_path) -> dict[str, Path]:
    return make_certificates(tmp_path / "tls")


def _tls_config(port: int, files: dict[str, Path]) -> AppConfig:
    return AppConfig.model_validate({"mqtt": {"port": port, "tls": {"ca_file": str(files["ca"])}}})


def _feed(publisher_under_test: Publisher) -> Connection:
    reader, writer = multiprocessing.Pipe(duplex=False)
    publisher_under_test.add_worker(0, reader)
    return writer


def _record_returns(target: object, method: str) -> list[object]:
    """Replace ``target.method`` by a wrapper that appends what each call returns to the
    list it gives back: how often the publisher thread did something, and with what."""
    original = getattr(target, method)
    returned: list[object] = []

    def recorded(*args: object) -> object:
        value = original(*args)
        returned.append(value)
        return value

    setattr(target, method, recorded)
    return returned


@contextlib.contextmanager
def _settled_publisher(
    broker: LocalBroker, subscriber_factory: Callable[..., Subscriber]
) -> Iterator[tuple[Publisher, Connection, Subscriber]]:
    """A connected publisher with one worker's pipe, its start-up messages acknowledged
    and no stats due, and a subscriber to its results."""
    config = AppConfig.model_validate(
        {"mqtt": {"host": broker.host, "port": broker.port, "stats_interval": 3600}}
    )
    subscriber = subscriber_factory(broker, "edgeeye/edgeeye/result")
    with started_publisher(config) as under_test:
        writer = _feed(under_test)
        assert wait_for(under_test._client.is_connected, 10)
        time.sleep(2 * network.ACK_HOLD_S)  # status, settings, discovery acknowledged
        try:
            yield under_test, writer, subscriber
        finally:
            writer.close()


def test_results_reach_the_outbox_while_a_connection_try_hangs(
    silent_port, certificates, private_state
):
    config = _tls_config(silent_port, certificates)
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
        outbox = under_test._window.outbox
        assert wait_for(lambda: outbox.rows == 40, 3), outbox.rows
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
        reads = _record_returns(under_test._client, "loop_read")
        for sequence in range(300):  # 200 a second: acknowledgements ride on results
            writer.send(_result(sequence))
            time.sleep(0.005)
        received = subscriber.collect(lambda r: len(r) >= 300, 20)
        assert sorted(json.loads(m.payload)["sequence"] for m in received) == list(range(300))
        assert wait_for(lambda: under_test.results_published == 300, 10)
        assert under_test.deliveries.unacknowledged == 0
        # Read every ACK_BATCH_S while results flow (about 1.5 s of them), not per result.
        assert len(reads) < 100, f"{len(reads)} reads for 300 results"
        writer.close()


def test_at_a_slow_camera_s_pace_each_result_costs_one_wake_up(
    broker, subscriber_factory, private_state
):
    # 5 results a second: the acknowledgement of each is read on the pass the next one
    # makes, not by a wake-up of its own; the last by one wake-up when the hold ends.
    with _settled_publisher(broker, subscriber_factory) as (under_test, writer, subscriber):
        passes = _record_returns(under_test._selector, "select")
        for sequence in range(15):
            writer.send(_result(sequence))
            time.sleep(0.2)
        received = subscriber.collect(lambda r: len(r) >= 15, 10)
        assert sorted(json.loads(m.payload)["sequence"] for m in received) == list(range(15))
        assert wait_for(lambda: under_test.deliveries.unacknowledged == 0, 2 * network.ACK_HOLD_S)
        assert under_test.results_published == 15
        # 15 results, the hold's end and a keepalive look a second (loop_misc): about 20;
        # a wake-up for every acknowledgement besides makes it 30 and more.
        assert len(passes) <= 24, f"{len(passes)} wake-ups for 15 results"


def test_while_results_flow_no_wake_up_is_made_for_keepalive_alone(
    broker, subscriber_factory, private_state
):
    # The keepalive look (loop_misc, once a second) rides on a pass a result makes when one
    # comes within DUTY_SLACK_S of its time: at 5 results a second every wake-up carries a
    # result, where each look used to cost one of its own, a few milliseconds off a result.
    with _settled_publisher(broker, subscriber_factory) as (under_test, writer, subscriber):
        passes = _record_returns(under_test._selector, "select")
        looks = _record_returns(under_test._client, "loop_misc")
        for sequence in range(20):
            writer.send(_result(sequence))
            time.sleep(0.2)
        empty = sum(not events for events in passes)
        looks_while_flowing = len(looks)
        received = subscriber.collect(lambda r: len(r) >= 20, 10)
        assert sorted(json.loads(m.payload)["sequence"] for m in received) == list(range(20))
        # 4 s of results: the looks still happen, every 0.75-1 s, but on result passes.
        assert 3 <= looks_while_flowing <= 6, f"{looks_while_flowing} keepalive looks in 4 s"
        assert empty == 0, f"{empty} wake-ups without a result in 4 s of results"


def test_the_end_of_a_try_is_seen_on_the_wake_up_it_sends(broker, private_state, monkeypatch):
    # The connector wakes the publisher thread as its last act, before the thread has
    # ended; with the idle and keepalive waits at 60 s, a wake-up mistaken for "still
    # trying" leaves the CONNECT unsent for a minute.  Busy cores widen that window.
    monkeypatch.setattr(publisher, "IDLE_WAIT_S", 60.0)
    monkeypatch.setattr(network, "MISC_INTERVAL_S", 60.0)
    config = AppConfig.model_validate(
        {"mqtt": {"host": broker.host, "port": broker.port, "stats_interval": 3600}}
    )
    spin = "while True: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        late = 0
        for _ in range(30):
            with started_publisher(config) as under_test:
                late += not wait_for(under_test._client.is_connected, 3)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(5)
    assert late == 0, f"{late} of 30 connections waited for the next keepalive look"


def _open_descriptors() -> dict[str, str]:
    """This process's descriptors and what each is (the listing's own has gone by then)."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return found


def _answer_late(listener: socket.socket, files: dict[str, Path]) -> bytes:
    """Complete the TLS handshake the try has waited in; then everything the client sends
    until it closes the connection (a timeout if it never does)."""
    connection, _ = listener.accept()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["server"], files["server-key"])
    received = b""
    with context.wrap_socket(connection, server_side=True) as tls:
        tls.settimeout(5.0)
        while chunk := tls.recv(4096):
            received += chunk
    return received


@pytest.mark.parametrize("ending", ["reset", "late handshake"])
def test_a_try_that_outlives_the_stop_closes_its_socket_and_wakes_nobody(
    ending, silent_listener, certificates, private_state
):
    config = _tls_config(silent_listener.getsockname()[1], certificates)
    before = _open_descriptors()
    under_test = Publisher(config, "model", PipelineCounts, queue.Queue())
    under_test.start()
    assert wait_for(lambda: under_test._network._connector is not None, 5)
    connector = under_test._network._connector
    assert connector is not None
    stopping = time.monotonic()
    under_test.stop(1.0)
    # paho gives a handshake 5 s: the stop kept to its own timeout instead.
    assert time.monotonic() - stopping < 2.5
    assert connector.is_alive(), "the try ended before the stop: nothing was tested"
    # New descriptors take the numbers the stop freed (the wake-up pipe's among them).
    pipes = [os.pipe2(os.O_NONBLOCK) for _ in range(4)]
    try:
        if ending == "reset":
            silent_listener.close()  # resets the connection: the handshake fails
        else:
            # The try succeeds after all; the socket it made must be closed by the try
            # itself (the broker would otherwise hold a session nobody serves).
            assert _answer_late(silent_listener, certificates) == b""
        connector.join(10)
        assert not connector.is_alive()
        for read_end, _write_end in pipes:
            with pytest.raises(BlockingIOError):
                os.read(read_end, 1)  # a byte here: the try woke through a stale number
        mine = {str(fd) for pipe in pipes for fd in pipe}
        now_open = _open_descriptors()
        left_open = {fd: now_open[fd] for fd in now_open.keys() - mine - before.keys()}
        assert not left_open
    finally:
        for pipe in pipes:
            for fd in pipe:
                os.close(fd)

"""What paho-mqtt itself costs per QoS 1 message here, before edgeeye adds anything.

A bare client in this process publishes a result-sized payload each time a byte arrives on
a pipe (as edgeeye's publisher thread is woken by a worker's result), at the rate edgeeye
published in the fair fight, and the CPU of the process per acknowledged message is
measured, the thread that writes the pipe excepted.  Two ways of driving paho, in
alternating rounds, medians:

- ``loop_start``: paho's own network thread (as the fair thread pool uses it, and edgeeye
  did until its publisher thread served the socket);
- ``network loop``: edgeeye's way (``mqtt.network``): the woken thread waits on the pipe
  and paho's socket in one selector and drives the socket itself (``loop_read``,
  ``loop_write``, ``loop_misc``), with no hand-off between threads.

And a third figure, the thread woken by the pipe that does nothing else: what one wake-up
costs on this machine.
"""

from __future__ import annotations

import os
import resource
import selectors
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeeye.mqtt.network import Backoff, NetworkLoop
from edgeeye.tools.local_broker import LocalBroker

#: About the size of a classifier's result payload (three labels, scores, timings).
PAYLOAD = b"x" * 450
_END = b"q"
_TOPIC = "bench/paho_floor"


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Feeder(threading.Thread):
    """Writes one byte per message into a pipe at ``rate``, then the end mark; keeps its
    own CPU so that it can be taken out (in edgeeye a worker process does this)."""

    def __init__(self, fd: int, rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.fd, self.rate, self.seconds = fd, rate, seconds
        self.cpu_s = 0.0

    def run(self) -> None:
        started = time.thread_time()
        due = time.monotonic()
        for _ in range(max(1, int(self.rate * self.seconds))):
            due += 1.0 / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
            os.write(self.fd, b"m")
        os.write(self.fd, _END)
        self.cpu_s = time.thread_time() - started


class _Trial:
    """One measured run: the pipe and its feeder, and the messages sent and acknowledged."""

    def __init__(self, rate: float, seconds: float) -> None:
        self.reader, self._writer = os.pipe()
        self.feeder = _Feeder(self._writer, rate, seconds)
        self.sent = self.acked = 0
        self._started = 0.0

    def connect(self, broker: LocalBroker) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(400)
        client.on_publish = self._acknowledged
        client.connect(broker.host, broker.port, 30)
        return client

    def _acknowledged(self, *_args: object) -> None:
        self.acked += 1

    def publisher(self, client: mqtt.Client) -> Callable[[], None]:
        def publish() -> None:
            client.publish(_TOPIC, PAYLOAD, qos=1)
            self.sent += 1

        return publish

    def begin(self) -> None:
        self._started = _process_cpu_s()
        self.feeder.start()

    def finish(self, count: int) -> float:
        """Close the pipe; the CPU of the process since ``begin``, the feeder's excepted,
        per one of ``count``, in us."""
        spent = _process_cpu_s() - self._started - self.feeder.cpu_s
        os.close(self.reader)
        os.close(self._writer)
        return spent / max(1, count) * 1e6


def _read_marks(fd: int, on_message: Callable[[], None]) -> bool:
    """Handle what the pipe holds; True once the end mark was read."""
    data = os.read(fd, 4096)
    for _ in range(data.count(b"m")):
        on_message()
    return _END in data


def _loop_start(broker: LocalBroker, rate: float, seconds: float) -> float:
    trial = _Trial(rate, seconds)
    client = trial.connect(broker)
    client.loop_start()
    while not client.is_connected():
        time.sleep(0.01)
    publish = trial.publisher(client)  # paho's network thread writes it to the socket
    trial.begin()
    while not _read_marks(trial.reader, publish):
        pass
    deadline = time.monotonic() + 10
    while trial.acked < trial.sent and time.monotonic() < deadline:
        time.sleep(0.005)
    cost = trial.finish(trial.acked)
    client.disconnect()
    client.loop_stop()
    return cost


def _network_loop(broker: LocalBroker, rate: float, seconds: float) -> float:
    trial = _Trial(rate, seconds)
    client = trial.connect(broker)
    selector = selectors.DefaultSelector()
    network = NetworkLoop(client, selector, Backoff(), lambda _client, _userdata: None)
    network.own()
    while not client.is_connected():
        network.run_for(0.05)
    publish = trial.publisher(client)  # written by this thread at the end of the pass
    selector.register(trial.reader, selectors.EVENT_READ, trial)
    trial.begin()
    ended = False
    deadline = time.monotonic() + seconds + 10
    while (not ended or trial.acked < trial.sent) and time.monotonic() < deadline:
        events = selector.select(network.next_due(time.monotonic()))
        if any(key.data is trial for key, _ in events):
            ended = _read_marks(trial.reader, publish) or ended
        network.serve(events, time.monotonic())
        network.flush()
    selector.unregister(trial.reader)
    cost = trial.finish(trial.acked)
    client.disconnect()
    network.run_for(0.05)
    network.close(1.0)
    selector.close()
    return cost


def _wake_only(_broker: LocalBroker, rate: float, seconds: float) -> float:
    trial = _Trial(rate, seconds)
    woken = [0]
    trial.begin()
    while not _read_marks(trial.reader, lambda: woken.__setitem__(0, woken[0] + 1)):
        pass
    trial.feeder.join(5)
    return trial.finish(woken[0])


def measure(
    broker: LocalBroker,
    rate: float,
    seconds: float,
    rounds: int,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Median CPU per message (us) of each way, at ``rate`` messages/s."""
    ways = {"loop_start": _loop_start, "network_loop": _network_loop, "wake_only": _wake_only}
    figures: dict[str, list[float]] = {name: [] for name in ways}
    for index in range(rounds):
        order = list(ways) if index % 2 == 0 else list(reversed(ways))
        for name in order:
            figures[name].append(ways[name](broker, rate, seconds))
        progress(
            f"  round {index + 1}: "
            + ", ".join(f"{name} {values[-1]:.0f} us" for name, values in figures.items())
        )
    return {
        "rate_per_s": round(rate, 1),
        "seconds": seconds,
        "rounds": rounds,
        **{f"{name}_us": round(statistics.median(values), 1) for name, values in figures.items()},
    }

"""The publisher thread: worker results in, MQTT messages out.

Runs in the main process.  It reads every worker's result pipe (each worker has its own,
so a killed worker cannot wedge the others), turns results into JSON and hands them to
paho-mqtt, whose own network thread (``loop_start``) connects, reconnects with backoff,
and delivers the last will if we vanish.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import paho.mqtt.client as mqtt

from edgeeye.config import AppConfig
from edgeeye.payloads import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    LatencyWindow,
    result_payload,
    stats_payload,
)
from edgeeye.worker import Result

log = logging.getLogger(__name__)

#: Messages paho may hold while the broker is away; beyond it new results are dropped
#: (and counted) rather than growing memory without bound.
MAX_QUEUED_MESSAGES = 10_000


class Publisher:
    """Owns the MQTT client and the thread that drains the workers' result pipes.

    ``events`` receives the workers' control messages, ``("ready", worker_id)`` and
    ``("error", worker_id, line)``, for the supervisor's loop.
    """

    def __init__(
        self,
        config: AppConfig,
        model_name: str,
        counts: Callable[[], dict[str, Any]],
        source_names: tuple[str, ...] = (),
    ) -> None:
        self._config = config
        self._model_name = model_name
        self._counts = counts
        self._source_names = source_names
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._inbox: dict[Connection, int] = {}
        self._inbox_lock = threading.Lock()
        self._draining = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeeye.publisher", daemon=True)
        self._latency = LatencyWindow()
        self._started = time.monotonic()
        # Message ids handed to paho but not yet acknowledged (QoS 1/2) or written (QoS 0),
        # mapped to whether they carry a result.  on_publish may run before publish()
        # returns, hence ``_early_acks``.  The lock is never held while calling into paho:
        # paho calls on_publish holding its own lock, so holding ours around publish()
        # would deadlock.
        self._published_lock = threading.Lock()
        self._pending_mids: dict[int, bool] = {}
        self._early_acks: set[int] = set()
        self._broker_unreachable_logged = False
        self.results_received = 0
        self.results_published = 0
        self.results_not_queued = 0
        self._client = self._make_client()

    # -- MQTT client -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self._config.client_id,
            protocol=mqtt.MQTTv311,
        )
        client.will_set(self._config.topic("status"), STATUS_OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker %s refused the connection: %s", self._broker, reason_code)
            return
        log.info("connected to broker %s", self._broker)
        self._broker_unreachable_logged = False
        info = client.publish(self._config.topic("status"), STATUS_ONLINE, qos=1, retain=True)
        self._track(info, is_result=False)

    def _on_connect_fail(self, _client, _userdata) -> None:
        # paho retries with backoff by itself; say so once per outage, not at every try.
        if not self._broker_unreachable_logged:
            self._broker_unreachable_logged = True
            log.warning("cannot reach broker %s; retrying in the background", self._broker)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        if not self._draining.is_set():
            log.warning("lost the broker %s (%s); reconnecting", self._broker, reason_code)

    def _on_publish(self, _client, _userdata, mid, _reason_code, _props) -> None:
        with self._published_lock:
            if mid in self._pending_mids:
                self.results_published += self._pending_mids.pop(mid)
            else:
                self._early_acks.add(mid)

    def _track(self, info: mqtt.MQTTMessageInfo, is_result: bool) -> None:
        """Count a result once paho reports it sent (QoS 0) or acknowledged (QoS 1/2)."""
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.results_not_queued += is_result
            return
        with self._published_lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                self.results_published += is_result
            else:
                self._pending_mids[info.mid] = is_result

    @property
    def _broker(self) -> str:
        return f"{self._config.mqtt.host}:{self._config.mqtt.port}"

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._client.connect_async(
            self._config.mqtt.host, self._config.mqtt.port, self._config.mqtt.keepalive
        )
        self._client.loop_start()
        self._thread.start()

    def add_worker(self, worker_id: int, results: Connection) -> None:
        with self._inbox_lock:
            self._inbox[results] = worker_id

    def stop(self, timeout: float) -> None:
        """Publish what the workers sent, then ``offline``, then disconnect; at most ``timeout`` s.

        Call after the workers have exited, so their pipes end and nothing is left unread.
        """
        deadline = time.monotonic() + timeout
        self._draining.set()
        self._thread.join(max(0.1, deadline - time.monotonic() - 1.0))
        # Results first, so the last stats count every acknowledged result.
        self._wait_delivered(deadline - 0.5)
        self._publish_stats()
        info = self._client.publish(
            self._config.topic("status"), STATUS_OFFLINE, qos=1, retain=True
        )
        self._track(info, is_result=False)
        if self._client.is_connected():
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        self._client.disconnect()
        self._client.loop_stop()

    def _wait_delivered(self, deadline: float) -> None:
        while time.monotonic() < deadline and self._client.is_connected():
            if not self._client._out_messages:  # paho's own queue of unacknowledged messages
                return
            time.sleep(0.02)

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        next_stats = time.monotonic() + self._config.mqtt.stats_interval
        while True:
            with self._inbox_lock:
                connections = list(self._inbox)
            if not connections and self._draining.is_set():
                return
            for connection in wait(connections, timeout=0.2) if connections else ():
                self._receive(connection)
            if not connections:
                time.sleep(0.05)
            if time.monotonic() >= next_stats:
                self._publish_stats()
                next_stats += self._config.mqtt.stats_interval

    def _receive(self, connection: Connection) -> None:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            with self._inbox_lock:
                worker_id = self._inbox.pop(connection, None)
            connection.close()
            self.events.put(("exited", worker_id))
            return
        kind = message[0]
        if kind == "result":
            self._publish_result(message[1])
        elif kind == "error":
            self.events.put(("error", self._inbox.get(connection), message[1]))
        else:
            self.events.put(message)

    def _publish_result(self, result: Result) -> None:
        self.results_received += 1
        latency_ms = (time.monotonic_ns() - result.capture_ts_ns) / 1e6
        self._latency.add(latency_ms)
        source = None
        if 0 <= result.tag < len(self._source_names):
            source = self._source_names[result.tag]
        payload = result_payload(
            result, self._config.device_id, self._model_name, latency_ms, source
        )
        info = self._client.publish(
            self._config.topic("result"), payload, qos=self._config.mqtt.qos
        )
        self._track(info, is_result=True)

    def _publish_stats(self) -> None:
        counts = self._counts()
        counts["results_published"] = self.results_published
        counts["results_not_queued"] = self.results_not_queued
        payload = stats_payload(
            self._config.device_id,
            counts,
            self._latency.percentiles(),
            time.monotonic() - self._started,
        )
        # Retained: whoever subscribes later still learns the last state, and why it stopped.
        info = self._client.publish(self._config.topic("stats"), payload, qos=1, retain=True)
        self._track(info, is_result=False)

"""The publisher thread: worker results in, MQTT messages out.

Runs in the main process.  It reads every worker's result pipe (each worker has its own,
so a killed worker cannot wedge the others), turns results into JSON and hands them to
paho-mqtt, whose own network thread (``loop_start``) connects, reconnects with backoff
and jitter, and delivers the last will if we vanish.

Which results are sent is the publish policy's decision (``policy.py``); a change may
bring a snapshot (``snapshot.py``).  While the broker cannot take results (disconnected, or
too many unacknowledged), they go to the on-disk outbox; once it is back the outbox is
sent oldest first, and new results join its tail until it is empty, so the broker sees
them in the order they were made.  With remote control on, ``set/...`` commands change the
live settings (``control.py``).
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

from edgeeye.config.app import AppConfig
from edgeeye.homeassistant.discovery import retained_configs
from edgeeye.mqtt.acknowledgements import OUTBOX_ROW, RESULT, Deliveries
from edgeeye.mqtt.client import JPEG, JSON, TEXT, make_client, message_properties
from edgeeye.mqtt.connection import BrokerLink
from edgeeye.mqtt.outbox import Outbox
from edgeeye.pipeline.worker import Result
from edgeeye.publish.payloads import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    LatencyWindow,
    error_payload,
    result_payload,
    settings_payload,
    stats_payload,
)
from edgeeye.publish.policy import LiveSettings, Outgoing, PublishPolicy
from edgeeye.publish.remote_control import (
    ControlError,
    receive_command,
    subscribe_commands,
)
from edgeeye.publish.snapshots import Snapshot, SnapshotBoard, Snapshots

log = logging.getLogger(__name__)

#: Messages paho may hold in memory; the outbox window keeps us well below it.
MAX_QUEUED_MESSAGES = 10_000
#: Messages handed to paho and not yet acknowledged; beyond it results go to the outbox,
#: so at most this many live only in memory if the broker stalls and we are then killed.
MAX_UNACKED = 200


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
        self.model_name = model_name
        self._counts = counts
        self._source_names = source_names
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._inbox: dict[Connection, int] = {}
        self._inbox_lock = threading.Lock()
        self._draining = threading.Event()
        self._detaching = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeeye.publisher", daemon=True)
        self._latency = LatencyWindow()
        self._started = time.monotonic()
        self._fps_since = (self._started, 0)  # (when, frames_classified) of the last stats
        self.deliveries = Deliveries()
        self._link = BrokerLink(config.mqtt, self.events)
        self.results_received = 0
        self.policy = PublishPolicy(LiveSettings.from_config(config))
        self.snapshots = Snapshots(self._publish_snapshot)
        self.snapshots.set_enabled(config.snapshot.enabled)
        self.policy.grab = lambda result: self.snapshots.grab(result.sequence)
        self._outbox = Outbox(config.outbox_path, int(config.outbox.max_mb * 2**20))
        self._client = self._make_client()

    # -- MQTT client -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = make_client(self._config.mqtt, self._config.client_id)
        client.will_set(
            self._config.topic("status"),
            STATUS_OFFLINE,
            qos=1,
            retain=True,
            properties=message_properties(self._config.mqtt, TEXT, will=True),
        )
        self._link.set_reconnect_delay(client)
        client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._link.connect_failed
        client.on_publish = self.deliveries.on_publish
        client.on_message = self._on_command
        return client

    def _send(
        self,
        leaf: str,
        payload: bytes | str,
        *,
        content_type: str = JSON,
        qos: int = 1,
        retain: bool = False,
        expires: bool = False,
        client: mqtt.Client | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """Publish on ``<prefix>/<device>/<leaf>`` with the MQTT 5 properties its kind has."""
        return (client or self._client).publish(
            self._config.topic(leaf),
            payload,
            qos=qos,
            retain=retain,
            properties=message_properties(self._config.mqtt, content_type, expires),
        )

    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _props) -> None:
        if not self._link.connected(reason_code):
            return
        self.deliveries.track(
            self._send("status", STATUS_ONLINE, content_type=TEXT, retain=True, client=client)
        )
        self._publish_discovery(client)
        self._publish_settings(client)
        if self._config.remote_control.enabled:
            subscribe_commands(client, self._config)

    def _on_disconnect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if not self._draining.is_set():
            self._link.disconnected(client, reason_code)

    @property
    def results_published(self) -> int:
        return self.deliveries.results_published

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._client.connect_async(
            self._config.mqtt.host, self._config.mqtt.port, self._config.mqtt.keepalive
        )
        self._client.loop_start()
        self._thread.start()

    def hand_over(self, successor: Publisher, timeout: float = 5.0) -> None:
        """Give the workers' pipes and the counters to ``successor``, start it, and leave.

        No result is dropped: while this client flushes and disconnects, results wait in
        the pipes, which nobody reads until the successor takes them.
        """
        self._detaching.set()
        self._thread.join(timeout)
        with self._inbox_lock:
            inbox, self._inbox = self._inbox, {}
        self.stop(timeout)
        successor.results_received = self.results_received
        successor.deliveries.results_published = self.deliveries.results_published
        successor.deliveries.results_not_queued = self.deliveries.results_not_queued
        successor.snapshots.published = self.snapshots.published
        if self.snapshots.board is not None:
            successor.use_board(self.snapshots.board)
        successor.start()
        for connection, worker_id in inbox.items():
            successor.add_worker(worker_id, connection)

    def add_worker(self, worker_id: int, results: Connection) -> None:
        with self._inbox_lock:
            self._inbox[results] = worker_id

    def stop(self, timeout: float) -> None:
        """Publish what the workers sent, then ``offline``, then disconnect; at most ``timeout`` s.

        Call after the workers have exited, so their pipes end and nothing is left unread.
        What the broker has not acknowledged by then stays in the outbox for the next start.
        """
        deadline = time.monotonic() + timeout
        self._draining.set()
        self._thread.join(max(0.1, deadline - time.monotonic() - 1.0))
        if (last_change := self.policy.flush(time.monotonic())) is not None:
            self._send_result(last_change)
        while self._outbox.rows and self._client.is_connected():
            if time.monotonic() > deadline - 1.5:
                break
            self._flush_outbox()
            time.sleep(0.02)
        # Results first, so the last stats count every acknowledged result.
        self._wait_delivered(deadline - 0.5)
        self._remove_acknowledged_rows()
        self.snapshots.stop(0.5)
        self._publish_stats()
        info = self._send("status", STATUS_OFFLINE, content_type=TEXT, retain=True)
        self.deliveries.track(info)
        if self._client.is_connected():
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        self._client.disconnect()
        self._client.loop_stop()
        self._remove_acknowledged_rows()
        self._outbox.close()

    def _wait_delivered(self, deadline: float) -> None:
        while time.monotonic() < deadline and self._client.is_connected():
            if not self._client._out_messages:  # paho's own queue of unacknowledged messages
                return
            time.sleep(0.02)

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        next_stats = time.monotonic() + self._config.mqtt.stats_interval
        while not self._detaching.is_set():
            with self._inbox_lock:
                connections = list(self._inbox)
            if not connections and self._draining.is_set():
                return
            due = self.policy.next_due(time.monotonic())
            timeout = 0.2 if due is None else min(0.2, due)
            for connection in wait(connections, timeout=timeout) if connections else ():
                self._receive(connection)
            if not connections:
                time.sleep(0.05)
            outgoing = self.policy.tick(time.monotonic())
            if outgoing is not None:
                self._send_result(outgoing)
            self._flush_outbox()
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
        self._latency.add((time.monotonic_ns() - result.capture_ts_ns) / 1e6)
        outgoing = self.policy.offer(result, time.monotonic())
        if outgoing is not None:
            self._send_result(outgoing)

    def _send_result(self, outgoing: Outgoing) -> None:
        result = outgoing.result
        source = None
        if 0 <= result.tag < len(self._source_names):
            source = self._source_names[result.tag]
        payload = result_payload(
            result,
            self._config.device_id,
            self.model_name,
            (time.monotonic_ns() - result.capture_ts_ns) / 1e6,
            source,
            labels=outgoing.labels,
            reason=outgoing.reason,
        )
        if outgoing.snapshot is not None:
            self.snapshots.submit(
                outgoing.snapshot, result.sequence, outgoing.state[0], self._config.snapshot
            )
        topic, qos = self._config.topic("result"), self._config.mqtt.qos
        if self._outbox.rows or not self._client.is_connected() or self._unacked_full():
            self._outbox.put(topic, payload, qos)
            return
        info = self._send("result", payload, qos=qos, expires=True)
        self.deliveries.track(info, RESULT)

    def _publish_snapshot(self, snapshot: Snapshot) -> bool:
        """From the encoder thread (paho's publish is thread-safe)."""
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

    def _unacked_full(self) -> bool:
        return self.deliveries.unacknowledged >= MAX_UNACKED

    # -- live settings and remote control ------------------------------------------------

    def use_board(self, board: SnapshotBoard) -> None:
        """The snapshot board the workers write from now on."""
        self.snapshots.use_board(board)

    def reconfigure(self, config: AppConfig) -> None:
        """A reloaded config whose broker side is unchanged: new live settings only."""
        self._config = config
        self.apply_settings(LiveSettings.from_config(config))

    def apply_settings(self, settings: LiveSettings) -> None:
        """New live settings (a reload or a remote command): used from the next result."""
        self.policy.settings = settings
        self.snapshots.set_enabled(settings.snapshot_enabled)
        self._publish_settings(self._client)

    def _on_command(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            settings = receive_command(self.policy.settings, self._config, message)
        except ControlError as exc:
            log.warning("remote setting rejected: %s", exc)
            payload = error_payload(self._config.device_id, message.topic, message.payload, exc)
            self.deliveries.track(self._send("error", payload, expires=True))
            return
        log.info("remote setting applied: %s", message.topic)
        self.apply_settings(settings)

    def _publish_settings(self, client: mqtt.Client) -> None:
        payload = settings_payload(
            self._config.device_id, self.policy.settings, self._config.remote_control.enabled
        )
        self.deliveries.track(self._send("settings", payload, retain=True, client=client))

    def _flush_outbox(self) -> None:
        """Forget acknowledged rows and send the next ones, oldest first, within the window."""
        self._remove_acknowledged_rows()
        if not self._outbox.rows or not self._client.is_connected():
            return
        room = MAX_UNACKED - self.deliveries.unacknowledged
        if room > 0:
            properties = message_properties(self._config.mqtt, JSON, expires=True)
            for row_id, topic, payload, qos in self._outbox.unsent(room):
                # QoS 1 at least: a row is deleted only when the broker has it.
                info = self._client.publish(topic, payload, qos=max(1, qos), properties=properties)
                self.deliveries.track(info, OUTBOX_ROW, row_id)

    def _remove_acknowledged_rows(self) -> None:
        self._outbox.remove(self.deliveries.take_acknowledged_rows())

    def _publish_discovery(self, client: mqtt.Client) -> None:
        """Home Assistant's retained configs, at every connect (a broker may have lost them);
        with discovery off, empty ones, which remove the device's entities."""
        properties = message_properties(self._config.mqtt, JSON)
        for topic, payload in retained_configs(self._config, self.model_name):
            info = client.publish(topic, payload, qos=1, retain=True, properties=properties)
            self.deliveries.track(info)

    def _publish_stats(self) -> None:
        counts = self._counts()
        now = time.monotonic()
        classified = counts.get("frames_classified", 0)
        seconds = now - self._fps_since[0]
        counts["fps"] = round((classified - self._fps_since[1]) / seconds, 2) if seconds else 0.0
        self._fps_since = (now, classified)
        counts["results_published"] = self.deliveries.results_published
        counts["results_not_queued"] = self.deliveries.results_not_queued
        counts["results_suppressed"] = self.policy.results_suppressed
        counts["snapshots_published"] = self.snapshots.published
        counts["snapshots_skipped"] = self.snapshots.skipped
        counts["outbox_queued"] = self._outbox.rows
        counts["outbox_dropped"] = self._outbox.dropped
        payload = stats_payload(
            self._config.device_id,
            counts,
            self._latency.percentiles(),
            time.monotonic() - self._started,
        )
        # Retained: whoever subscribes later still learns the last state, and why it stopped.
        self.deliveries.track(self._send("stats", payload, retain=True))

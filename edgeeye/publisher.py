"""The publisher thread: worker results in, MQTT messages out.

Runs in the main process.  It reads every worker's result pipe (each worker has its own,
so a killed worker cannot wedge the others), turns results into JSON and hands them to
paho-mqtt, whose own network thread (``loop_start``) connects, reconnects with backoff
and jitter, and delivers the last will if we vanish.

While the broker cannot take results (disconnected, or too many unacknowledged), they go
to the on-disk outbox; once it is back the outbox is sent oldest first, and new results
join its tail until it is empty, so the broker sees them in the order they were made.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import paho.mqtt.client as mqtt

from edgeeye.config import AppConfig, MqttConfig, MqttTlsConfig
from edgeeye.discovery import discovery_messages, removal_messages
from edgeeye.errors import ConfigError
from edgeeye.outbox import Outbox
from edgeeye.payloads import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    LatencyWindow,
    result_payload,
    stats_payload,
)
from edgeeye.worker import Result

log = logging.getLogger(__name__)

#: Messages paho may hold in memory; the outbox window keeps us well below it.
MAX_QUEUED_MESSAGES = 10_000
#: Messages handed to paho and not yet acknowledged; beyond it results go to the outbox,
#: so at most this many live only in memory if the broker stalls and we are then killed.
MAX_UNACKED = 200

#: CONNACK reasons no retry can fix (MQTT 5 codes; paho maps 3.1.1's 4 and 5 to them).
_REFUSED_FOR_GOOD = {134, 135}  # bad user name or password, not authorized

# What an acknowledged message id stood for.
_OTHER, _RESULT, _OUTBOX_ROW = "other", "result", "row"


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
        # Message ids handed to paho but not yet acknowledged (QoS 1/2) or written (QoS 0),
        # mapped to whether they carry a result.  on_publish may run before publish()
        # returns, hence ``_early_acks``.  The lock is never held while calling into paho:
        # paho calls on_publish holding its own lock, so holding ours around publish()
        # would deadlock.
        self._published_lock = threading.Lock()
        self._pending_mids: dict[int, tuple[str, int]] = {}
        self._early_acks: set[int] = set()
        self._acked_rows: list[int] = []
        self._broker_unreachable_logged = False
        self._connected_once = False  # since the last loss: a disconnect before it is a refusal
        self.results_received = 0
        self.results_published = 0
        self.results_not_queued = 0
        self._outbox = Outbox(config.outbox_path, int(config.outbox.max_mb * 2**20))
        self._client = self._make_client()

    # -- MQTT client -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self._config.client_id,
            protocol=mqtt.MQTTv311,
        )
        client.will_set(self._config.topic("status"), STATUS_OFFLINE, qos=1, retain=True)
        apply_credentials(client, self._config.mqtt)
        self._set_reconnect_delay(client)
        client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            line = f"broker {self._broker} refused the connection: {reason_code}"
            if reason_code.value in _REFUSED_FOR_GOOD:
                # Retrying cannot fix credentials: stop, and let the supervisor say why.
                self.events.put(("refused", f"{line} (check mqtt.username and the password)"))
            else:
                log.error("%s; retrying", line)
            return
        log.info("connected to broker %s", self._broker)
        self._broker_unreachable_logged = False
        self._connected_once = True
        info = client.publish(self._config.topic("status"), STATUS_ONLINE, qos=1, retain=True)
        self._track(info, (_OTHER, 0))
        self._publish_discovery(client)

    def _on_connect_fail(self, _client, _userdata) -> None:
        # paho calls this from inside its ``except OSError``: the exception says why.
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLCertVerificationError):
            # Retrying cannot make our CA trust this broker: stop, and say which broker.
            self.events.put(
                (
                    "refused",
                    f"broker {self._broker}: TLS certificate not trusted:"
                    f" {error.verify_message} (check mqtt.tls.ca_file)",
                )
            )
            return
        # paho retries with backoff by itself; say so once per outage, not at every try.
        if not self._broker_unreachable_logged:
            self._broker_unreachable_logged = True
            reason = (error.strerror or str(error)) if isinstance(error, OSError) else "unknown"
            hint = ""
            # A plain MQTT broker resets a TLS hello, or answers it with garbage.
            if self._config.mqtt.tls and isinstance(error, ssl.SSLError | ConnectionResetError):
                hint = " (is it a plain MQTT port? see mqtt.tls)"
            log.warning(
                "cannot reach broker %s: %s%s; retrying in the background",
                self._broker,
                reason,
                hint,
            )

    def _on_disconnect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if self._draining.is_set():
            return
        if self._connected_once:
            self._connected_once = False
            log.warning("lost the broker %s (%s); reconnecting", self._broker, reason_code)
            self._set_reconnect_delay(client)
        elif not self._broker_unreachable_logged:
            # The TCP connection worked but the broker hung up before answering: most often
            # a TLS port spoken to in plain MQTT.  Once per outage, not at every retry.
            self._broker_unreachable_logged = True
            log.warning(
                "broker %s closed the connection before accepting it (%s): is it a TLS port"
                " (see mqtt.tls)? retrying in the background",
                self._broker,
                reason_code,
            )

    def _set_reconnect_delay(self, client: mqtt.Client) -> None:
        # paho doubles the delay per failed attempt; a random start per outage keeps a fleet
        # from reconnecting in lockstep after the broker restarts.
        client.reconnect_delay_set(
            min_delay=random.uniform(0.5, 1.5), max_delay=self._config.mqtt.reconnect_max_s
        )

    def _on_publish(self, _client, _userdata, mid, _reason_code, _props) -> None:
        with self._published_lock:
            if mid in self._pending_mids:
                self._acknowledged(self._pending_mids.pop(mid))
            else:
                self._early_acks.add(mid)

    def _acknowledged(self, tag: tuple[str, int]) -> None:
        kind, row_id = tag
        self.results_published += kind != _OTHER
        if kind == _OUTBOX_ROW:
            self._acked_rows.append(row_id)

    def _track(self, info: mqtt.MQTTMessageInfo, tag: tuple[str, int]) -> None:
        """Count a result once paho reports it sent (QoS 0) or acknowledged (QoS 1/2)."""
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.results_not_queued += tag[0] == _RESULT
            return
        with self._published_lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                self._acknowledged(tag)
            else:
                self._pending_mids[info.mid] = tag

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
        successor.results_published = self.results_published
        successor.results_not_queued = self.results_not_queued
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
        while self._outbox.rows and self._client.is_connected():
            if time.monotonic() > deadline - 1.5:
                break
            self._flush_outbox()
            time.sleep(0.02)
        # Results first, so the last stats count every acknowledged result.
        self._wait_delivered(deadline - 0.5)
        self._remove_acknowledged_rows()
        self._publish_stats()
        info = self._client.publish(
            self._config.topic("status"), STATUS_OFFLINE, qos=1, retain=True
        )
        self._track(info, (_OTHER, 0))
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
            for connection in wait(connections, timeout=0.2) if connections else ():
                self._receive(connection)
            if not connections:
                time.sleep(0.05)
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
        latency_ms = (time.monotonic_ns() - result.capture_ts_ns) / 1e6
        self._latency.add(latency_ms)
        source = None
        if 0 <= result.tag < len(self._source_names):
            source = self._source_names[result.tag]
        payload = result_payload(
            result, self._config.device_id, self.model_name, latency_ms, source
        )
        topic, qos = self._config.topic("result"), self._config.mqtt.qos
        if self._outbox.rows or not self._client.is_connected() or self._unacked_full():
            self._outbox.put(topic, payload, qos)
            return
        self._track(self._client.publish(topic, payload, qos=qos), (_RESULT, 0))

    def _unacked_full(self) -> bool:
        return len(self._pending_mids) >= MAX_UNACKED

    def _flush_outbox(self) -> None:
        """Forget acknowledged rows and send the next ones, oldest first, within the window."""
        self._remove_acknowledged_rows()
        if not self._outbox.rows or not self._client.is_connected():
            return
        room = MAX_UNACKED - len(self._pending_mids)
        if room > 0:
            for row_id, topic, payload, qos in self._outbox.unsent(room):
                # QoS 1 at least: a row is deleted only when the broker has it.
                info = self._client.publish(topic, payload, qos=max(1, qos))
                self._track(info, (_OUTBOX_ROW, row_id))

    def _remove_acknowledged_rows(self) -> None:
        with self._published_lock:
            acknowledged, self._acked_rows = self._acked_rows, []
        self._outbox.remove(acknowledged)

    def _publish_discovery(self, client: mqtt.Client) -> None:
        """Home Assistant's retained configs, at every connect (a broker may have lost them);
        with discovery off, empty ones, which remove the device's entities."""
        if self._config.homeassistant.discovery:
            messages = discovery_messages(self._config, self.model_name)
        else:
            messages = removal_messages(self._config)
        for topic, payload in messages:
            self._track(client.publish(topic, payload, qos=1, retain=True), (_OTHER, 0))

    def _publish_stats(self) -> None:
        counts = self._counts()
        now = time.monotonic()
        classified = counts.get("frames_classified", 0)
        seconds = now - self._fps_since[0]
        counts["fps"] = round((classified - self._fps_since[1]) / seconds, 2) if seconds else 0.0
        self._fps_since = (now, classified)
        counts["results_published"] = self.results_published
        counts["results_not_queued"] = self.results_not_queued
        counts["outbox_queued"] = self._outbox.rows
        counts["outbox_dropped"] = self._outbox.dropped
        payload = stats_payload(
            self._config.device_id,
            counts,
            self._latency.percentiles(),
            time.monotonic() - self._started,
        )
        # Retained: whoever subscribes later still learns the last state, and why it stopped.
        info = self._client.publish(self._config.topic("stats"), payload, qos=1, retain=True)
        self._track(info, (_OTHER, 0))


def apply_credentials(client: mqtt.Client, settings: MqttConfig) -> None:
    """Username, password and TLS as configured; errors name the key and file."""
    if settings.username:
        client.username_pw_set(settings.username, _read_password(settings))
    if settings.tls is not None:
        _set_tls(client, settings.tls)


def check_broker_files(settings: MqttConfig) -> None:
    """Raise the error a start would give for an unreadable password or TLS file."""
    _read_password(settings)
    if settings.tls is not None:
        _check_tls_files(settings.tls)


def _read_password(settings: MqttConfig) -> str:
    """The password's first line; errors name the file, never its content."""
    path = settings.password_path()
    if path is None:
        return ""
    key = "mqtt.password_credential" if settings.password_credential else "mqtt.password_file"
    try:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot read: {exc.strerror}") from None


def _check_tls_files(tls: MqttTlsConfig) -> None:
    for key, path in (
        ("ca_file", tls.ca_file),
        ("cert_file", tls.cert_file),
        ("key_file", tls.key_file),
    ):
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"mqtt.tls.{key}: {path}: cannot read")


def _set_tls(client: mqtt.Client, tls: MqttTlsConfig) -> None:
    _check_tls_files(tls)
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file),
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"mqtt.tls: {tls.ca_file}: cannot use: {exc}") from None

"""The publisher thread: worker results in, MQTT messages out.

Runs in the main process.  It reads every worker's result pipe (``result_pipes``), turns
results into JSON and hands them to paho-mqtt, and drives paho's socket itself
(``network``): one wait for results and acknowledgements, no hand-off to another thread.
paho connects, keeps the connection alive, re-sends what was not acknowledged and leaves
the last will if we vanish; the network loop reconnects with backoff and jitter.

Which results are sent is the publish policy's decision (``publish.policy``); a change may
bring a snapshot (``publish.snapshots``).  While the broker cannot take results
(disconnected, or too many unacknowledged), they go to the on-disk outbox, which is sent
oldest first once it is back (``result_window``).  Every other message (status, settings,
stats, presence, snapshots, errors) goes out through ``sender``.  With remote control on,
``set/...`` commands change the live settings (``publish.remote_control``).
"""

from __future__ import annotations

import logging
import queue
import selectors
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeeye.config.app import AppConfig
from edgeeye.inference.results import Task
from edgeeye.mqtt.acknowledgements import Deliveries
from edgeeye.mqtt.client import TEXT, make_client, message_properties
from edgeeye.mqtt.commands import CommandDesk
from edgeeye.mqtt.connection import BrokerLink, BrokerRefusal
from edgeeye.mqtt.discovery_desk import DiscoveryDesk
from edgeeye.mqtt.guard import CallbackGuard
from edgeeye.mqtt.network import DUTY_SLACK_S, Backoff, NetworkLoop
from edgeeye.mqtt.outbox import Outbox
from edgeeye.mqtt.presence_desk import PresenceDesk
from edgeeye.mqtt.result_pipes import ResultPipes
from edgeeye.mqtt.result_window import MAX_UNACKED, ResultWindow
from edgeeye.mqtt.sender import Sender
from edgeeye.pipeline.messages import Result, WorkerFailed, WorkerMessage, WorkerReady
from edgeeye.pipeline.snapshot_board import SnapshotBoard
from edgeeye.publish.payloads import (
    STATUS_OFFLINE,
    STATUS_ONLINE,
    result_payload,
    run_id,
    settings_payload,
)
from edgeeye.publish.policy import LiveSettings, Outgoing, PublishPolicy
from edgeeye.publish.remote_control import subscribe_commands
from edgeeye.publish.snapshot_marks import marks_for
from edgeeye.publish.snapshots import Snapshots
from edgeeye.publish.stats import LatencyWindow, PipelineCounts, PublisherCounts, RateMeter, Stats

log = logging.getLogger(__name__)

#: Messages paho may hold in memory; the outbox window keeps us well below it.
MAX_QUEUED_MESSAGES = 10_000
#: With nothing arriving, the publisher thread looks at its stop, hand-over, outbox and
#: keepalive this often; each look is a wake-up of an idle appliance.
IDLE_WAIT_S = 1.0

#: What the publisher thread tells the supervisor: workers' ready and failure messages
#: (read from their pipes), and a broker refusal no retry can fix.
PublisherEvent = WorkerReady | WorkerFailed | BrokerRefusal


class Publisher:
    """Owns the MQTT client and the thread that drains the workers' result pipes.

    ``events`` (the supervisor's queue, shared by every publisher of a run) receives the
    workers' ``WorkerReady`` and ``WorkerFailed`` and the link's ``BrokerRefusal``.
    """

    def __init__(
        self,
        config: AppConfig,
        model_name: str,
        counts: Callable[[], PipelineCounts],
        events: queue.Queue[PublisherEvent],
        source_names: tuple[str, ...] = (),
        task: Task = Task.CLASSIFY,
    ) -> None:
        self._config = config
        self.model_name = model_name
        self.task = task
        self._counts = counts
        self._source_names = source_names
        self.events = events
        self._selector = selectors.DefaultSelector()
        self._draining = threading.Event()
        self._detaching = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeeye.publisher", daemon=True)
        self._latency = LatencyWindow()
        self._started = time.monotonic()
        self._fps = RateMeter(self._started)
        self.deliveries = Deliveries()
        self._backoff = Backoff()
        self._link = BrokerLink(config.mqtt, self.events.put, self._backoff)
        self.results_received = 0
        outbox = Outbox(config.outbox_path, int(config.outbox.max_mb * 2**20))  # may refuse
        self._client = self._make_client()
        self._say = Sender(config, self._client, self.deliveries)
        self._window = ResultWindow(
            self._client, outbox, self.deliveries, self._say.result_properties
        )
        self.policy = PublishPolicy(LiveSettings.from_config(config, task))
        self.presence = PresenceDesk(
            config,
            lambda leaf, payload, retain, client: self._say.send(
                leaf, payload, retain=retain, expires=not retain, client=client
            ),
        )
        self.discovery = DiscoveryDesk(config, model_name, task, self.deliveries.track)
        self.snapshots = Snapshots(self._say.snapshot)
        self.snapshots.set_enabled(config.snapshot.enabled)
        self.policy.grab = lambda result: self.snapshots.grab(result.sequence)
        self.commands = CommandDesk(
            config,
            lambda: self.policy.settings,
            self.apply_settings,
            lambda payload: self._say.send("error", payload, expires=True),
        )
        self.callback_guard = CallbackGuard()
        self._set_callbacks(self._client)
        self._network = NetworkLoop(
            self._client,
            self._selector,
            self._backoff,
            self.callback_guard(self._link.connect_failed),
        )
        self._pipes = ResultPipes(self._selector, self._network.wake)

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
        self._link.restart_backoff()
        client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        # paho's own window (20 by default) would hold back what ours lets through, and
        # walk its queue on every acknowledgement.
        client.max_inflight_messages_set(2 * MAX_UNACKED)  # results, and the rest besides
        # Nothing a callback raises may end the publisher thread (see mqtt.guard); paho's
        # own suppression is the second line, should a callback ever be set unguarded.
        client.suppress_exceptions = True
        return client

    def _set_callbacks(self, client: mqtt.Client) -> None:
        guard = self.callback_guard
        client.on_connect = guard(self._on_connect)
        client.on_disconnect = guard(self._on_disconnect)
        client.on_publish = guard(self.deliveries.on_publish)
        client.on_message = guard(self.commands.on_message)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if not self._link.connected(reason_code):
            return
        self._say.send("status", STATUS_ONLINE, content_type=TEXT, retain=True, client=client)
        self.discovery.publish(client)
        self._publish_settings(client)
        self.presence.republish(client)
        if self._config.remote_control.enabled:
            subscribe_commands(client, self._config)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if not self._draining.is_set():
            self._link.disconnected(reason_code)

    @property
    def results_published(self) -> int:
        return self.deliveries.results_published

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._client.connect_async(
            self._config.mqtt.host, self._config.mqtt.port, self._config.mqtt.keepalive
        )
        self._thread.start()  # it connects, as the owner of the network loop

    def hand_over(self, successor: Publisher, timeout: float = 5.0) -> None:
        """Give the workers' pipes and the counters to ``successor``, start it, and leave.

        No result is dropped: while this client flushes and disconnects, results wait in
        the pipes, which nobody reads until the successor takes them.
        """
        self._detaching.set()
        self._network.wake()
        self._thread.join(timeout)
        pipes = self._pipes.take_all()
        self.stop(timeout)
        successor.results_received = self.results_received
        successor.deliveries.results_published = self.deliveries.results_published
        successor.deliveries.results_not_queued = self.deliveries.results_not_queued
        successor.snapshots.published = self.snapshots.published
        successor.presence.carry_on(self.presence)
        if self.snapshots.board is not None:
            successor.use_board(self.snapshots.board)
        successor.start()
        for pipe, worker_id in pipes.items():
            successor.add_worker(worker_id, pipe)

    def add_worker(self, worker_id: int, results: Connection) -> None:
        self._pipes.add(worker_id, results)

    def stop(self, timeout: float) -> None:
        """Publish what the workers sent, then ``offline``, then disconnect; at most ``timeout`` s.

        Call after the workers have exited, so their pipes end and nothing is left unread.
        What the broker has not acknowledged by then stays in the outbox for the next start.
        """
        deadline = time.monotonic() + timeout
        self._draining.set()
        self._network.wake()
        if self._thread.ident is not None:
            self._thread.join(max(0.1, deadline - time.monotonic() - 1.0))
        if self._thread.is_alive():
            log.error("the publisher thread did not stop in time; what it had not read is lost")
            self._network.close(0.0)
            self._window.outbox.close()
            return
        self._network.own()  # the thread has ended: from here this one serves the socket
        if (last_change := self.policy.flush(time.monotonic())) is not None:
            self._send_result(last_change)
        self._window.drain(self._network.run_for, deadline - 1.5)
        # Results first, so the last stats count every acknowledged result.
        # paho's own queue of unacknowledged messages
        self._network.run_until(lambda: not self._client._out_messages, deadline - 0.5)
        self._window.remove_acknowledged()
        self.snapshots.stop(0.5)
        self._publish_stats()
        info = self._say.send("status", STATUS_OFFLINE, content_type=TEXT, retain=True)
        self._network.run_until(info.is_published, deadline)
        self._network.stop_trying()
        self._client.disconnect()
        self._network.run_for(0.05)  # the DISCONNECT, so that the broker drops the last will
        # A try still under way (a TLS handshake that hangs) may have the time left, no
        # more: should it outlast that, it closes its own socket (``NetworkLoop.close``).
        self._network.close(max(0.0, deadline - time.monotonic()))
        self._selector.close()
        self._window.remove_acknowledged()
        self._window.outbox.close()

    def health_problem(self) -> str | None:
        """Why results could not reach the broker or the outbox any more; None while the
        publisher thread, which also serves the connection (up or retrying), is alive."""
        ended = self._thread.ident is not None and not self._thread.is_alive()
        if ended and not (self._draining.is_set() or self._detaching.is_set()):
            return "the publisher thread has died"
        return None

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        self._network.own()
        next_stats = time.monotonic() + self._config.mqtt.stats_interval
        while not self._detaching.is_set():
            if not self._pipes and self._draining.is_set():
                return
            now = time.monotonic()
            dues = [
                d for d in (self.policy.next_due(now), self.presence.next_due(now)) if d is not None
            ]
            dues += [IDLE_WAIT_S, next_stats - now, self._network.next_due(now)]
            wait = max(0.0, min(dues))
            events = self._selector.select(wait)
            for pipe in self._pipes.ready(events):
                self._receive(self._pipes.read(pipe))
            self._network.serve(events, time.monotonic())
            outgoing = self.policy.tick(time.monotonic())
            if outgoing is not None:
                self._send_result(outgoing)
            self.presence.tick(time.monotonic())
            self._link.drop_if_silent(self._client, self.deliveries, time.monotonic())
            self._window.flush()
            if time.monotonic() >= next_stats - DUTY_SLACK_S:
                self.commands.report_dropped()
                self._publish_stats()
                next_stats += self._config.mqtt.stats_interval
            self._network.flush()  # what this pass published, in one go

    def _receive(self, message: WorkerMessage | None) -> None:
        if isinstance(message, Result):
            self._publish_result(message)
        elif message is not None:
            self.events.put(message)  # WorkerReady, WorkerFailed: the supervisor's

    def _publish_result(self, result: Result) -> None:
        self.results_received += 1
        self._latency.add((time.monotonic_ns() - result.capture_ts_ns) / 1e6)
        self.presence.observe(result, time.monotonic(), self.policy.settings.floor)
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
            detections=outgoing.detections,
            regions=outgoing.regions,
        )
        if outgoing.snapshot is not None:
            self.snapshots.submit(
                outgoing.snapshot,
                result.sequence,
                outgoing.state.label,
                self._config.snapshot,
                marks_for(self._config, self.task, outgoing.detections, outgoing.regions),
            )
        self._window.offer(self._say.result_topic, payload, self._config.mqtt.qos)

    # -- live settings and remote control ------------------------------------------------

    def use_board(self, board: SnapshotBoard) -> None:
        """The snapshot board the workers write from now on."""
        self.snapshots.use_board(board)

    def reconfigure(self, config: AppConfig, model_name: str, task: Task) -> None:
        """A reloaded config whose broker side is unchanged: new live settings only (and
        the model's name and task, should the model have changed)."""
        self._config = self.commands.config = config
        self._say.reconfigure(config)
        self.model_name, self.task = model_name, task
        self.apply_settings(LiveSettings.from_config(config, task))
        self.presence.reconfigure(config)
        self.discovery.reconfigure(self._client, config, model_name, task)

    def apply_settings(self, settings: LiveSettings) -> None:
        """New live settings (a reload or a remote command): used from the next result."""
        self.policy.settings = settings
        self.snapshots.set_enabled(settings.snapshot_enabled)
        self._publish_settings(self._client)

    def _publish_settings(self, client: mqtt.Client) -> None:
        payload = settings_payload(
            self._config.device_id, self.policy.settings, self._config.remote_control.enabled
        )
        self._say.send("settings", payload, retain=True, client=client)

    def _publish_stats(self) -> None:
        pipeline, now = self._counts(), time.monotonic()
        stats = Stats.build(
            self._config.device_id,
            run_id(),
            now - self._started,
            pipeline,
            PublisherCounts(
                fps=self._fps.rate(pipeline.frames_classified, now),
                results_published=self.deliveries.results_published,
                results_not_queued=self.deliveries.results_not_queued,
                results_suppressed=self.policy.results_suppressed,
                snapshots_published=self.snapshots.published,
                snapshots_skipped=self.snapshots.skipped,
                outbox_queued=self._window.outbox.rows,
                outbox_dropped=self._window.outbox.dropped,
            ),
            self._latency.percentiles(),
        )
        # Retained: whoever subscribes later still learns the last state, and why it stopped.
        self._say.send("stats", stats.payload(), retain=True)

"""What the broker has acknowledged: results counted, outbox rows that may be deleted.

paho calls ``on_publish`` from the thread that serves its socket (the publisher thread),
which may read an acknowledgement before another thread's ``publish()`` (the snapshot
encoder's) has returned the message id to it, hence the early-acks set.  The lock is
never held while calling into paho: paho holds its own lock around ``on_publish``, so
holding ours around ``publish()`` would deadlock.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

# What an acknowledged message id stood for.
OTHER, RESULT, OUTBOX_ROW = "other", "result", "row"


class Deliveries:
    """Message ids handed to paho but not yet acknowledged (QoS 1/2) or written (QoS 0)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[str, int]] = {}
        self._early_acks: set[int] = set()
        self._acked_rows: list[int] = []
        self.results_published = 0
        self.results_not_queued = 0
        #: When the broker last acknowledged anything, or the first message since began to wait.
        self._heard_at = time.monotonic()

    def on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_code: ReasonCode,
        _props: Properties,
    ) -> None:
        """paho's callback (VERSION2 signature)."""
        with self._lock:
            self._heard_at = time.monotonic()
            if mid in self._pending:
                self._acknowledged(self._pending.pop(mid))
            else:
                self._early_acks.add(mid)

    def track(self, info: mqtt.MQTTMessageInfo, kind: str = OTHER, row_id: int = 0) -> None:
        """Count a result once paho reports it sent (QoS 0) or acknowledged (QoS 1/2)."""
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.results_not_queued += kind == RESULT
            return
        with self._lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                self._acknowledged((kind, row_id))
            else:
                if not self._pending:
                    self._heard_at = time.monotonic()
                self._pending[info.mid] = (kind, row_id)

    def silent_for(self, now: float) -> float:
        """Seconds messages have waited without the broker acknowledging anything (0 when
        none waits): a link that carries nothing back although it stays open."""
        with self._lock:
            return now - self._heard_at if self._pending else 0.0

    def heard(self, now: float) -> None:
        """Start the silence anew (after we dropped a silent link)."""
        with self._lock:
            self._heard_at = now

    @property
    def unacknowledged(self) -> int:
        return len(self._pending)

    def take_acknowledged_rows(self) -> list[int]:
        """Outbox rows the broker has acknowledged since the last call."""
        with self._lock:
            rows, self._acked_rows = self._acked_rows, []
        return rows

    def _acknowledged(self, tag: tuple[str, int]) -> None:
        kind, row_id = tag
        self.results_published += kind != OTHER
        if kind == OUTBOX_ROW:
            self._acked_rows.append(row_id)

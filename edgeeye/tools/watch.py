"""``edgeeye watch``: every edgeeye device a broker carries, live.

A subscriber on every topic a device publishes (``<prefix>/+/result``, ``/stats``,
``/status``, ``/settings``, ``/error``, ``/snapshot``).  With ``--json`` it prints one JSON
line per message (for scripts; a snapshot as its size, not its bytes); otherwise a table,
redrawn every second, of each device seen: status, last label and score, fps, p99
latency, drops, restarts, last seen.  The broker going away is said once on stderr; paho
reconnects with backoff and the subscriptions are made again at every connect.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from edgeeye.config.sections import MqttConfig
from edgeeye.mqtt.client import apply_credentials
from edgeeye.publish.stats import Stats

LEAVES = ("result", "stats", "status", "settings", "error", "snapshot")


@dataclass
class DeviceView:
    """What the table shows of one device."""

    status: str = "?"
    label: str = ""
    score: float | None = None
    fps: float | None = None
    p99_ms: float | None = None
    dropped: int | None = None
    restarts: int | None = None
    last_seen: float = field(default_factory=time.monotonic)

    def update(self, leaf: str, payload: Any) -> None:
        self.last_seen = time.monotonic()
        if leaf == "status":
            self.status = str(payload)
        elif leaf == "result" and isinstance(payload, dict):
            top = (payload.get("labels") or [{"label": "", "score": None}])[0]
            self.label, self.score = top["label"], top["score"]
        elif leaf == "stats" and isinstance(payload, dict):
            try:
                stats = Stats.model_validate(payload)
            except ValidationError:
                return  # another edgeeye version's stats: the row keeps what it knew
            self.fps, self.p99_ms = stats.fps, stats.latency_ms.p99
            self.dropped, self.restarts = stats.frames_dropped, stats.restart_total


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def render_table(devices: dict[str, DeviceView], now: float | None = None) -> str:
    now = time.monotonic() if now is None else now
    header = ("device", "status", "label", "score", "fps", "p99 ms", "dropped", "restarts", "seen")
    rows = [header]
    for name in sorted(devices):
        view = devices[name]
        rows.append(
            (
                name,
                view.status,
                view.label[:24],
                _cell(view.score, 2),
                _cell(view.fps),
                _cell(view.p99_ms),
                _cell(view.dropped),
                _cell(view.restarts),
                f"{now - view.last_seen:.0f} s ago",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


class Watcher:
    """Subscribes, keeps a ``DeviceView`` per device, and prints as asked."""

    def __init__(self, settings: MqttConfig, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.settings = settings
        self.as_json = as_json
        self.out = out
        self.devices: dict[str, DeviceView] = {}
        self._lock = threading.Lock()
        self._away_said = False
        self._leaving = False  # our own disconnect is not the broker going away
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="",
            clean_session=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 10)
        apply_credentials(client, settings)  # the appliance's own: password file, TLS
        self._client = client

    @property
    def _broker(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            print(f"watch: broker {self._broker} refused: {reason_code}", file=sys.stderr)
            return
        if self._away_said:
            print(f"watch: broker {self._broker} is back", file=sys.stderr)
        self._away_said = False
        prefix = self.settings.topic_prefix
        client.subscribe([(f"{prefix}/+/{leaf}", 1) for leaf in LEAVES])

    def _say_away(self) -> None:
        if not self._away_said and not self._leaving:
            self._away_said = True
            print(f"watch: broker {self._broker} is away; reconnecting", file=sys.stderr)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        _reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self._say_away()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        self._say_away()

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        device, leaf = message.topic.rsplit("/", 2)[-2:]
        text = message.payload.decode("utf-8", "replace")
        try:
            payload: Any = text if leaf == "status" else json.loads(text)
        except ValueError:
            payload = text
        if leaf == "snapshot":
            payload = {"jpeg_bytes": len(message.payload)}
        with self._lock:
            self.devices.setdefault(device, DeviceView()).update(leaf, payload)
            if self.as_json:
                line = {"device": device, "kind": leaf, "topic": message.topic,
                        "retained": bool(message.retain), "payload": payload}  # fmt: skip
                self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
                self.out.flush()

    def run(self, duration: float | None = None) -> None:
        """Until Ctrl-C, or for ``duration`` seconds."""
        self._client.connect_async(self.settings.host, self.settings.port, 30)
        self._client.loop_start()
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(1.0 if deadline is None else min(1.0, deadline - time.monotonic()))
                if not self.as_json:
                    with self._lock:
                        table = render_table(self.devices)
                    self.out.write("\x1b[H\x1b[2J" + table + "\n")
                    self.out.flush()
        except KeyboardInterrupt:
            pass
        finally:
            self._leaving = True
            self._client.disconnect()
            self._client.loop_stop()

"""``edgeeye watch``: every edgeeye device a broker carries, live.

A subscriber on every topic a device publishes (``<prefix>/+/result``, ``/stats``,
``/status``, ``/settings``, ``/error``, ``/snapshot``).  With ``--json`` it prints one JSON
line per message (for scripts; a snapshot as its size, not its bytes); otherwise a table,
redrawn every second, of each device seen: status, last label and score, fps, p99
latency, drops, restarts, last seen.  The broker going away is said once on stderr; paho
reconnects with backoff and the subscriptions are made again at every connect.

Anyone who can publish on the broker writes to this terminal, so no payload is trusted.
``parse_message`` turns a message into a ``Reading`` or a ``NotUnderstood``, and never
raises: it reads at most ``MAX_PAYLOAD_BYTES``, wants UTF-8 and, but for a status, JSON
of finite numbers nested at most ``MAX_JSON_DEPTH`` deep with the fields of the right
types.  A message it does not understand is counted, and the table's last line says how
many and why the last one was not (``--json`` adds ``not_understood`` to its line).  Every
string shown (device ids, labels, statuses, reasons) goes through ``printable``: control
and format characters (ESC, bidi overrides) become visible escapes, lengths are capped.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeeye.config.sections import MqttConfig
from edgeeye.mqtt.client import apply_credentials
from edgeeye.tools.watch_messages import (
    LEAVES,
    MAX_DEVICES,
    MAX_PRESENCE,
    NotUnderstood,
    Reading,
    parse_message,
    printable,
)


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
    #: Presence entries by id: whether each is on (at most ``MAX_PRESENCE`` kept).
    present: dict[str, bool] = field(default_factory=dict)
    last_seen: float = field(default_factory=time.monotonic)

    def apply(self, reading: Reading) -> None:
        self.last_seen = time.monotonic()
        if reading.status is not None:
            self.status = reading.status
        if reading.label is not None:
            self.label, self.score = reading.label, reading.score
        if reading.stats is not None:
            self.fps, self.p99_ms = reading.stats.fps, reading.stats.latency_ms.p99
            self.dropped, self.restarts = reading.stats.frames_dropped, reading.stats.restart_total
        if reading.presence is not None:
            key, on = reading.presence
            if key in self.present or len(self.present) < MAX_PRESENCE:
                self.present[key] = on

    @property
    def present_now(self) -> str:
        """The entries that are on, by id ("-" when none is)."""
        return " ".join(sorted(key for key, on in self.present.items() if on)) or "-"


@dataclass
class NotUnderstoodTally:
    """How many messages watch could not use, and the last of them."""

    count: int = 0
    last: NotUnderstood | None = None

    def add(self, message: NotUnderstood) -> None:
        self.count += 1
        self.last = message

    def line(self) -> str:
        if self.last is None:
            return ""
        where = "/".join(part for part in (self.last.device, self.last.kind) if part)
        return (
            f"{self.count} message{'s' if self.count != 1 else ''} not understood;"
            f" the last, {printable(where, 48)}: {printable(self.last.reason, 100)}"
        )


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return printable(f"{value:.{digits}f}" if isinstance(value, float) else str(value), 12)


def render_table(
    devices: dict[str, DeviceView],
    now: float | None = None,
    not_understood: NotUnderstoodTally | None = None,
) -> str:
    now = time.monotonic() if now is None else now
    header = (
        "device",
        "status",
        "label",
        "score",
        "present",
        "fps",
        "p99 ms",
        "dropped",
        "restarts",
        "seen",
    )
    rows = [header]
    for name in sorted(devices):
        view = devices[name]
        rows.append(
            (
                printable(name, 32),
                printable(view.status, 16),
                printable(view.label, 24),
                _cell(view.score, 2),
                printable(view.present_now, 32),
                _cell(view.fps),
                _cell(view.p99_ms),
                _cell(view.dropped),
                _cell(view.restarts),
                _cell(f"{now - view.last_seen:.0f} s ago"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not_understood is not None and not_understood.count:
        lines.append(not_understood.line())
    return "\n".join(line.rstrip() for line in lines)


_P = ParamSpec("_P")


class Watcher:
    """Subscribes, keeps a ``DeviceView`` per device, and prints as asked."""

    def __init__(self, settings: MqttConfig, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.settings = settings
        self.as_json = as_json
        self.out = out
        self.devices: dict[str, DeviceView] = {}
        self.not_understood = NotUnderstoodTally()
        self.callback_failures = 0
        self._lock = threading.Lock()
        self._away_said = False
        self._leaving = False  # our own disconnect is not the broker going away
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="",
            clean_session=True,
        )
        client.on_connect = self._never_raises(self._on_connect)
        client.on_disconnect = self._never_raises(self._on_gone)
        client.on_connect_fail = self._never_raises(self._on_gone)
        client.on_message = self._never_raises(self._on_message)
        client.reconnect_delay_set(1, 10)
        apply_credentials(client, settings)  # the appliance's own: password file, TLS
        self._client = client

    @property
    def _broker(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _never_raises(self, callback: Callable[_P, None]) -> Callable[_P, None]:
        """``callback`` made unable to kill paho's network thread (an exception escaping a
        callback stops the loop, and the table silently goes stale): counted, the first
        said on stderr."""

        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
            try:
                callback(*args, **kwargs)
            except Exception as exc:
                self.callback_failures += 1
                if self.callback_failures == 1:
                    cause = printable(f"{type(exc).__name__}: {exc}", 200)
                    with contextlib.suppress(Exception):  # stderr gone too: the count stays
                        print(f"watch: a callback failed: {cause}; counting", file=sys.stderr)

        return guarded

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
        client.subscribe(
            [(f"{prefix}/+/{leaf}", 1) for leaf in LEAVES] + [(f"{prefix}/+/presence/+", 1)]
        )

    def _on_gone(self, *_args: object) -> None:
        """A disconnect or a failed connect: said once until the broker is back."""
        if not self._away_said and not self._leaving:
            self._away_said = True
            print(f"watch: broker {self._broker} is away; reconnecting", file=sys.stderr)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # mosquitto refuses such topics; another broker may not
            topic = "?"
            reading: Reading | NotUnderstood = NotUnderstood("", "", "topic is not UTF-8")
        else:
            reading = parse_message(topic, bytes(message.payload))
        with self._lock:
            if isinstance(reading, Reading):
                if reading.device in self.devices or len(self.devices) < MAX_DEVICES:
                    self.devices.setdefault(reading.device, DeviceView()).apply(reading)
                else:
                    self.not_understood.add(
                        NotUnderstood(reading.device, reading.kind, f"over {MAX_DEVICES} devices")
                    )
            else:
                self.not_understood.add(reading)
            if self.as_json:
                self._print_json(topic, bool(message.retain), reading)

    def _print_json(self, topic: str, retained: bool, reading: Reading | NotUnderstood) -> None:
        line = {"device": reading.device, "kind": reading.kind, "topic": topic,
                "retained": retained, "payload": reading.payload}  # fmt: skip
        if isinstance(reading, NotUnderstood):
            line["not_understood"] = reading.reason
        # ensure_ascii (the default): every control and non-ASCII character leaves as \uXXXX.
        self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.out.flush()

    def _draw(self) -> None:
        with self._lock:
            table = render_table(self.devices, not_understood=self.not_understood)
        if self.callback_failures:
            table += f"\n{self.callback_failures} callback errors (the first is on stderr)"
        # As the terminal can encode it: a label in a script a C-locale terminal lacks.
        encoding = getattr(self.out, "encoding", None) or "utf-8"
        table = table.encode(encoding, "replace").decode(encoding)
        self.out.write("\x1b[H\x1b[2J" + table + "\n")
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
                    self._draw()
        except KeyboardInterrupt:
            pass
        finally:
            self._leaving = True
            self._client.disconnect()
            self._client.loop_stop()

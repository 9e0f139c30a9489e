"""The subscriber that counts: ``mosquitto_sub`` in a process of its own.

One C process, writing each message's arrival time, topic and payload to a file that is
read after the run, costs the machine far less per message than any design under test, so
it is never the bottleneck, and its CPU is reported with everyone else's.  A persistent
session, subscribed before the run starts, keeps every QoS 1 message even when the
subscriber connects a moment after the broker accepted the first one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from edgeeye.errors import ResourceError
from edgeeye.tools.launcher import terminate
from edgeeye.tools.local_broker import LocalBroker


@dataclass(frozen=True)
class Arrival:
    """A result as the subscriber saw it: when it arrived, when it was captured, which."""

    arrived: float
    captured: float
    sequence: int


@dataclass(frozen=True)
class Received:
    results: list[Arrival]  # in order of arrival
    stats: list[tuple[float, dict[str, Any]]]  # (arrival, document) of each stats message


def mosquitto_sub_path() -> str:
    found = shutil.which("mosquitto_sub")
    if found is None:
        raise ResourceError("bench: mosquitto_sub not found (apt-get install mosquitto-clients)")
    return found


def _iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Subscriber:
    """``with Subscriber(broker, topics, folder) as sub: ...; sub.received()``."""

    _client_id = "edgeeye-bench-counter"

    def __init__(self, broker: LocalBroker, topics: list[str], folder: Path) -> None:
        self._broker = broker
        self._topics = topics
        self._path = folder / "subscriber.txt"
        self._process: subprocess.Popen[bytes] | None = None

    def _command(self, *extra: str) -> list[str]:
        command = [mosquitto_sub_path(), "-h", self._broker.host, "-p", str(self._broker.port)]
        command += ["-q", "1", "-c", "-i", self._client_id]
        for topic in self._topics:
            command += ["-t", topic]
        return [*command, *extra]

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Subscriber:
        # -E: subscribe in a persistent session and exit, so the broker queues from now on.
        subprocess.run(self._command("-E"), check=True, timeout=10, capture_output=True)
        with self._path.open("wb") as out:
            self._process = subprocess.Popen(self._command("-F", "%U %t %p"), stdout=out)
        time.sleep(0.3)  # connected: on loopback this takes a few milliseconds
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None:
            return
        terminate(self._process)  # mosquitto_sub flushes its output on SIGTERM
        self._process = None
        # Leave no session behind on the broker: a clean connect with the same id ends it.
        subprocess.run(
            [
                mosquitto_sub_path(),
                "-h",
                self._broker.host,
                "-p",
                str(self._broker.port),
                "-i",
                self._client_id,
                "-t",
                "edgeeye-bench/none",
                "-E",
            ],
            timeout=10,
            capture_output=True,
            check=False,
        )

    def lines(self) -> list[str]:
        """What arrived, one ``<arrival> <topic> <payload>`` line per message (after ``stop``)."""
        return self._path.read_text(errors="replace").splitlines()

    def received(self) -> Received:
        """Every result and stats message, parsed (after ``stop``)."""
        results, stats = [], []
        for line in self._path.read_bytes().splitlines():
            stamp, topic, payload = line.split(b" ", 2)
            arrived = float(stamp)
            document = json.loads(payload)
            if topic.endswith(b"/stats"):
                stats.append((arrived, document))
            elif "captured_at" in document:
                results.append(
                    Arrival(arrived, _iso_seconds(document["captured_at"]), document["sequence"])
                )
        return Received(results, stats)

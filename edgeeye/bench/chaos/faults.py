"""The appliance under chaos and the faults done to it.

``Appliance`` keeps one ``edgeeye run`` going, restarting it after a SIGKILL as systemd
would, and records each start for the ledger.  Each fault is a method of ``Faults`` that
returns when the fault has been undone; the run measures recovery from that moment.
"""

from __future__ import annotations

import contextlib
import enum
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeeye.bench.chaos.ledger import RunRecord
from edgeeye.bench.chaos.proxy import LinkProxy
from edgeeye.bench.processes import session_processes
from edgeeye.mqtt.result_window import MAX_UNACKED
from edgeeye.pipeline.ring import Counter
from edgeeye.pipeline.segment import SEGMENT_PREFIX, SHM_DIR
from edgeeye.tools.launcher import launch_run
from edgeeye.tools.local_broker import LocalBroker

WORKERS = 2
SLOTS = WORKERS + 2
#: What a killed appliance may hold in memory: its ring, a frame in each worker, results in
#: the pipes and the publisher, and the window of messages paho holds unacknowledged.
APPLIANCE_IN_MEMORY = SLOTS + WORKERS + 16 + MAX_UNACKED


class Kind(enum.Enum):
    KILL_WORKER = "SIGKILL a worker"
    KILL_CAPTURE = "SIGKILL capture"
    KILL_APPLIANCE = "SIGKILL the appliance"
    STOP_WORKER = "SIGSTOP a worker"
    BROKER_DOWN = "broker stopped"
    HALF_OPEN = "half-open link"
    SLOW_LINK = "slow link"
    RELOAD_VALID = "SIGHUP, valid change"
    RELOAD_INVALID = "SIGHUP, invalid change"
    OUTBOX_FULL = "outbox filesystem full"


class Appliance:
    """``edgeeye run`` on ``config``, started again whenever it dies."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self._log = log
        self.records: list[RunRecord] = []
        self.process: subprocess.Popen[str] | None = None
        self.exit_codes: list[int] = []

    def start(self) -> None:
        with self._log.open("a") as errors:
            self.process = launch_run(self.config, stderr=errors)
        self.records.append(RunRecord(pid=self.process.pid))

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the appliance is not running")
        return self.process.pid

    def child(self, name: str) -> int | None:
        """The pid of the child that names itself ``name`` (edgeeye-w0, edgeeye-capture)."""
        for pid, found in session_processes(self.pid, self.pid).items():
            if found == name:
                return pid
        return None

    def kill_and_restart(self) -> None:
        """SIGKILL the main process; read its ring's counters; start it again."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(10)
        self.exit_codes.append(self.process.returncode)
        record = self.records[-1]
        record.ended_by_kill = True
        record.ring_counts = ring_counts(pid)
        record.in_memory_allowance += APPLIANCE_IN_MEMORY
        _wait_gone(pid, 10.0)  # its children follow it (the child server, PDEATHSIG)
        self.start()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self.exit_codes.append(code)
        return code


def ring_counts(pid: int) -> dict[str, int] | None:
    """The counters at the head of a dead appliance's frame ring (still in /dev/shm)."""
    for path in SHM_DIR.glob(f"{SEGMENT_PREFIX}{pid}_ring*"):
        counters = np.fromfile(path, dtype=np.int64, count=len(Counter))
        return {
            "frames_captured": int(counters[Counter.FRAMES_CAPTURED]),
            "frames_dropped": int(counters[Counter.FRAMES_DROPPED]),
            "frames_skipped": int(counters[Counter.FRAMES_SKIPPED]),
            "frames_lost": int(counters[Counter.FRAMES_LOST]),
        }
    return None


def _wait_gone(session: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while session_processes(session, -1) and time.monotonic() < deadline:
        time.sleep(0.05)


class Faults:
    """Each fault, done and undone; durations from the run's seeded random generator."""

    def __init__(
        self,
        appliance: Appliance,
        broker: LocalBroker,
        proxy: LinkProxy,
        rng: random.Random,
        config_text: str,
        outbox_fs: Path | None,
        keepalive: int,
    ) -> None:
        self.appliance = appliance
        self.broker = broker
        self.proxy = proxy
        self.rng = rng
        self.config_text = config_text
        self.outbox_fs = outbox_fs
        self.keepalive = keepalive
        self.noticed_half_open_s: list[float] = []
        self.notes: list[str] = []

    def do(self, kind: Kind) -> str:
        """Inject ``kind`` and undo it; a line saying what was done."""
        fault: Callable[[], str] = getattr(self, f"_{kind.name.lower()}")
        return fault()

    def _worker(self) -> tuple[str, int | None]:
        name = f"edgeeye-w{self.rng.randrange(WORKERS)}"
        return name, self.appliance.child(name)

    def _kill_worker(self) -> str:
        name, pid = self._worker()
        if pid is None:
            return f"{name} not running"
        os.kill(pid, signal.SIGKILL)  # the frame it held is counted in frames_lost
        return f"{name} killed"

    def _kill_capture(self) -> str:
        pid = self.appliance.child("edgeeye-capture")
        if pid is None:
            return "capture not running"
        os.kill(pid, signal.SIGKILL)
        return "capture killed"

    def _kill_appliance(self) -> str:
        self.appliance.kill_and_restart()
        return "appliance killed and started again"

    def _stop_worker(self) -> str:
        name, pid = self._worker()
        if pid is None:
            return f"{name} not running"
        seconds = self.rng.uniform(5, 20)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        with contextlib.suppress(ProcessLookupError):  # replaced meanwhile
            os.kill(pid, signal.SIGCONT)
        return f"{name} stopped for {seconds:.1f} s"

    def _broker_down(self) -> str:
        seconds = self.rng.uniform(1, 30)
        self.broker.stop()
        time.sleep(seconds)
        self.broker.start()
        return f"broker down for {seconds:.1f} s"

    def _half_open(self) -> str:
        # Only an established connection can go half-open; right after a broker outage the
        # appliance may still be in its reconnect backoff, and a CONNECT swallowed by the
        # blackhole would be timed as a late keepalive.
        waited = time.monotonic()
        while not (connected := self.proxy.connected()) and time.monotonic() < waited + 60:
            time.sleep(0.05)
        started = time.monotonic()
        closes = len(self.proxy.closed_by_client)
        self.proxy.set_blackhole(True)
        limit = started + 3 * self.keepalive
        while len(self.proxy.closed_by_client) == closes and time.monotonic() < limit:
            time.sleep(0.05)
        noticed = None
        if len(self.proxy.closed_by_client) > closes:
            noticed = self.proxy.closed_by_client[closes] - started
            self.noticed_half_open_s.append(noticed)
        time.sleep(self.rng.uniform(1, 5))
        self.proxy.set_blackhole(False)
        seen = "never" if noticed is None else f"after {noticed:.1f} s"
        if not connected:
            seen += " (it had not connected for 60 s before)"
        elif started - waited >= 0.1:
            seen += f" (made once it connected, {started - waited:.1f} s in)"
        return f"packets dropped, connection open; the appliance noticed {seen}"

    def _slow_link(self) -> str:
        delay = self.rng.uniform(0.05, 0.5)
        seconds = self.rng.uniform(5, 15)
        self.proxy.delay_s = delay
        time.sleep(seconds)
        self.proxy.delay_s = 0.0
        return f"{delay * 1000:.0f} ms each way for {seconds:.1f} s"

    def _reload_valid(self) -> str:
        score = self.rng.choice([0.0, 0.01, 0.05])
        self.appliance.config.write_text(
            self.config_text.replace("min_score: 0.0", f"min_score: {score}")
        )
        os.kill(self.appliance.pid, signal.SIGHUP)
        time.sleep(1.0)
        return f"model.min_score {score}"

    def _reload_invalid(self) -> str:
        self.appliance.config.write_text(self.config_text + "no_such_key: 1\n")
        os.kill(self.appliance.pid, signal.SIGHUP)
        time.sleep(1.0)
        self.appliance.config.write_text(self.config_text)  # as a careful user mends it
        return "an unknown key, refused"

    def _outbox_full(self) -> str:
        if self.outbox_fs is None:
            return "skipped: no small filesystem of our own here (mounting needs root)"
        filler = self.outbox_fs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * 65536):
                    pass
        finally:
            os.close(fd)
        seconds = self.rng.uniform(3, 8)
        self.broker.stop()  # the outbox must take the results now, and cannot
        time.sleep(seconds)
        filler.unlink()
        self.broker.start()
        return f"outbox filesystem full while the broker was down {seconds:.1f} s"

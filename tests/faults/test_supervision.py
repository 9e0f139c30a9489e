"""Fault injection against the real appliance: children die, hang, and lose their camera.

Each test runs ``edgeeye run`` against its own mosquitto and breaks one thing for real
(SIGKILL, a worker frozen in its invoke, the fake camera's cable pulled), then checks what
arrived at the subscriber: results resume, restarts are counted with their cause and
logged once, every ring slot comes back, and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.support.configs import small_model_config
from tests.support.fakes import fake_camera, hanging_workers
from tests.support.processes import lingering, session_members, shm_segments

SYNTHETIC_60 = "{type: synthetic, fps: 60}"


def _child_pid(appliance, name: str) -> int:
    """The pid of the appliance's child that names itself ``name`` (edgeeye-w0, ...)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for pid in session_members(appliance.process.pid):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                    return pid
            except OSError:
                continue
        time.sleep(0.1)
    raise AssertionError(f"no process {name} in the appliance")


class Arrivals:
    """Results as the subscriber receives them, each with the time the test saw it (+-0.1 s)."""

    def __init__(self, subscriber) -> None:
        self.subscriber = subscriber
        self.results: list[tuple[float, dict]] = []
        self._seen = 0

    def _update(self, received) -> None:
        for message in received[self._seen :]:
            if message.topic.endswith("/result"):
                self.results.append((time.monotonic(), json.loads(message.payload)))
        self._seen = len(received)

    def wait_for(
        self, count: int, since: float = 0.0, worker: int | None = None, timeout: float = 30
    ) -> list[tuple[float, dict]]:
        """Results (from ``worker``, if given) that arrived after ``since``, once ``count``
        of them are in or ``timeout`` has passed."""

        def matching() -> list[tuple[float, dict]]:
            return [
                (t, r)
                for t, r in self.results
                if t > since and (worker is None or r["worker"] == worker)
            ]

        def enough(received) -> bool:
            self._update(received)
            return len(matching()) >= count

        self.subscriber.collect(enough, timeout)
        return matching()


def _last_stats(subscriber) -> dict:
    return subscriber.json_on("/stats")[-1]


def _stop(appliance, subscriber) -> dict:
    """SIGTERM, exit 0, and the final stats (published after every child has exited)."""
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    return _last_stats(subscriber)


def test_each_worker_killed_in_turn_is_replaced_and_the_ring_keeps_its_slots(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    config = small_model_config(tmp_path, broker.port, test_data, source=SYNTHETIC_60)
    appliance = appliance_factory(config)
    arrivals = Arrivals(subscriber)
    assert len(arrivals.wait_for(20, timeout=60)) == 20, "no results before the faults"
    recoveries = []
    for worker in (0, 1):
        victim = _child_pid(appliance, f"edgeeye-w{worker}")
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        resumed = arrivals.wait_for(5, since=killed_at + 0.3, worker=worker)
        assert len(resumed) >= 5, f"worker {worker} did not come back"
        assert _child_pid(appliance, f"edgeeye-w{worker}") != victim
        recoveries.append(resumed[0][0] - killed_at)
    print(f"worker back at work {max(recoveries):.2f} s after SIGKILL (worst of 2)")
    stats = _stop(appliance, subscriber)
    assert stats["restarts"] == {"worker_exit": 2}
    assert stats["fault"] is None
    assert stats["ring_slots_free"] == stats["ring_slots"] == 4
    assert appliance.stderr.count("replacing it") == 2
    assert "worker 0 was killed by SIGKILL; replacing it" in appliance.stderr
    assert not lingering(appliance.process.pid)


def test_a_worker_stuck_in_invoke_is_killed_and_replaced(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    config = small_model_config(
        tmp_path, broker.port, test_data, source=SYNTHETIC_60, supervisor="invoke_deadline_s: 1.0"
    )
    # Worker 1 hangs in its first invoke (the fake interpreter of tests/fakes); the marker
    # file lets only the first one hang, so its replacement works.
    appliance = appliance_factory(config, env=hanging_workers("1", tmp_path / "hung-once"))
    resumed = Arrivals(subscriber).wait_for(5, worker=1, timeout=60)
    assert len(resumed) >= 5, "the frozen worker was never replaced"
    stats = _stop(appliance, subscriber)
    assert stats["restarts"] == {"worker_hang": 1}
    assert stats["ring_slots_free"] == stats["ring_slots"]
    assert stats["frames_lost"] == 1  # the frame it hung on, counted rather than vanished
    assert "worker 1 was stuck in one invoke for" in appliance.stderr
    assert appliance.stderr.count("replacing it") == 1


def test_camera_unplugged_and_plugged_back_resumes_with_fresh_sequence_numbers(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    cable = tmp_path / "camera-state"
    cable.write_text("plugged")
    config = small_model_config(
        tmp_path,
        broker.port,
        test_data,
        source="{type: picamera2, fps: 30}",
        supervisor="source_backoff_s: 0.2, source_backoff_max_s: 1.0, source_retries: 20",
    )
    appliance = appliance_factory(config, env=fake_camera(state=str(cable)))
    arrivals = Arrivals(subscriber)
    before = arrivals.wait_for(10, timeout=60)
    assert len(before) >= 10
    cable.write_text("unplugged")
    time.sleep(4)  # 2 s until capture gives up waiting for a frame, then failed re-opens
    cable.write_text("plugged")
    replugged = time.monotonic()
    after = arrivals.wait_for(10, since=replugged)
    assert len(after) >= 10, "capture did not come back after the camera did"
    stats = _stop(appliance, subscriber)
    assert stats["restarts"]["capture"] >= 2  # the timeout, then failed re-opens
    assert stats["fault"] is None
    sequences = [r["sequence"] for r in subscriber.json_on("/result")]
    assert len(sequences) == len(set(sequences)), "a restarted capture reused sequence numbers"
    assert min(r["sequence"] for _, r in after) > max(r["sequence"] for _, r in before)
    assert "camera 0: no frame for 2.0 s (camera stopped delivering" in appliance.stderr
    assert "libcamera found 0 camera(s): none" in appliance.stderr


def test_camera_that_never_comes_back_exits_4_and_the_last_stats_say_why(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    cable = tmp_path / "camera-state"
    cable.write_text("unplugged")
    config = small_model_config(
        tmp_path,
        broker.port,
        test_data,
        source="{type: picamera2, fps: 30}",
        supervisor="source_backoff_s: 0.2, source_backoff_max_s: 0.4, source_retries: 3",
    )
    appliance = appliance_factory(config, env=fake_camera(state=str(cable)))
    assert appliance.wait(60) == 4, appliance.stderr
    subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)
    stats = _last_stats(subscriber)
    assert stats["fault"] == (
        "camera 0: not found; libcamera found 0 camera(s): none (check the ribbon cable"
        " and that the camera is enabled) (4 failures in a row)"
    )
    assert stats["restarts"] == {"capture": 3}
    last_line = appliance.stderr.strip().splitlines()[-1]
    assert last_line == f"edgeeye: error: {stats['fault']}"
    assert appliance.stderr.count("retrying in") == 3
    assert not lingering(appliance.process.pid)
    assert not [s for s in shm_segments() if s.startswith(f"edgeeye_{appliance.process.pid}_")]


def _stop_while_waiting(pid: int, attempts: int = 400) -> None:
    """SIGSTOP ``pid`` at a moment it is blocked in a system call (waiting for a frame),
    not inside an invoke, which the invoke deadline would catch instead."""
    for _ in range(attempts):
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.02)  # stopped by now
        call = Path(f"/proc/{pid}/syscall").read_text().split()[0]
        if call not in ("running", "-1"):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.003)
    raise AssertionError(f"worker {pid} was never caught waiting")


def test_a_worker_stopped_while_frames_wait_is_replaced_like_a_hung_one(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    # Unpaced frames: one worker cannot keep up, so frames wait in the ring all along.
    config = small_model_config(
        tmp_path,
        broker.port,
        test_data,
        source="{type: synthetic, fps: 0}",
        supervisor="invoke_deadline_s: 2.0",
    )
    appliance = appliance_factory(config)
    arrivals = Arrivals(subscriber)
    assert len(arrivals.wait_for(20, timeout=60)) >= 20, "no results before the fault"
    victim = _child_pid(appliance, "edgeeye-w1")
    _stop_while_waiting(victim)
    stopped_at = time.monotonic()
    resumed = arrivals.wait_for(5, since=stopped_at + 2.0, worker=1, timeout=30)
    assert len(resumed) >= 5, f"the stopped worker was never replaced: {appliance.stderr[-3000:]}"
    assert _child_pid(appliance, "edgeeye-w1") != victim
    print(
        f"stopped worker replaced: its successor's first result"
        f" {resumed[0][0] - stopped_at:.1f} s after SIGSTOP"
    )
    stats = _stop(appliance, subscriber)
    assert stats["restarts"] == {"worker_hang": 1}
    assert "worker 1 took no frame for" in appliance.stderr
    assert "while frames waited; replacing it" in appliance.stderr
    assert stats["ring_slots_free"] == stats["ring_slots"]
    assert not lingering(appliance.process.pid)


def test_capture_killed_outright_is_restarted_and_sequence_numbers_go_on(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker)
    config = small_model_config(tmp_path, broker.port, test_data, source=SYNTHETIC_60)
    appliance = appliance_factory(config)
    arrivals = Arrivals(subscriber)
    before = arrivals.wait_for(20, timeout=60)
    victim = _child_pid(appliance, "edgeeye-capture")
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)  # no line on its errors pipe: it just ends
    after = arrivals.wait_for(10, since=killed_at + 0.2, timeout=30)
    assert len(after) >= 10, "capture was not restarted"
    assert _child_pid(appliance, "edgeeye-capture") != victim
    assert min(r["sequence"] for _, r in after) > max(r["sequence"] for _, r in before)
    stats = _stop(appliance, subscriber)
    assert stats["restarts"] == {"capture": 1}
    # It died holding the slot it was filling: given back, so the ring did not shrink.
    assert stats["ring_slots_free"] == stats["ring_slots"]
    assert "capture process was killed by SIGKILL" in appliance.stderr
    assert not lingering(appliance.process.pid)

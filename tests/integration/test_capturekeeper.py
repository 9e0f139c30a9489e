"""The capture process as the supervisor keeps it: real child processes and a real ring."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeeye.config.app import AppConfig
from edgeeye.errors import SourceError
from edgeeye.pipeline.ring import Counter, FrameRing
from edgeeye.supervision.capture_keeper import CaptureKeeper
from edgeeye.supervision.outcome import RunEnd
from edgeeye.supervision.restarts import Backoff

CTX = multiprocessing.get_context("spawn")
MODEL_SIZE = (32, 32)


@pytest.fixture
def ring():
    made = FrameRing.create(CTX, slot_count=2, slot_bytes=64 * 48 * 3)
    yield made
    made.close()


@pytest.fixture
def log_queue():
    queue = CTX.Queue()
    yield queue
    queue.close()


def images_config(path: Path) -> AppConfig:
    return AppConfig(source={"type": "images", "path": str(path), "loop": False})


def running_keeper(log_queue, retries: int) -> CaptureKeeper:
    """A keeper whose captures read at once, as after the supervisor's workers are ready."""
    keeper = CaptureKeeper(CTX, log_queue, Backoff(0.1, 0.1, retries=retries))
    keeper.begin()
    return keeper


def check_until(
    keeper: CaptureKeeper, ring: FrameRing, config: AppConfig, want: Callable[[RunEnd | None], bool]
) -> RunEnd | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        outcome = keeper.check(ring, config, MODEL_SIZE)
        if want(outcome):
            return outcome
        time.sleep(0.05)
    raise AssertionError("the capture process did not get there in 30 s")


def test_a_finite_source_ends_as_finished_not_as_a_failure(tmp_path, ring, log_queue):
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(tmp_path / "one.png")
    config = images_config(tmp_path)
    keeper = running_keeper(log_queue, retries=0)
    keeper.start(ring, config, MODEL_SIZE)
    assert check_until(keeper, ring, config, lambda outcome: outcome is not None) == (
        RunEnd.SOURCE_FINISHED
    )
    assert int(ring.counters[Counter.FRAMES_CAPTURED]) == 1
    assert keeper.child.process.exitcode == 0 and keeper.restarts == 0
    keeper.stop(1.0)
    keeper.child.connection.close()


def test_a_failing_source_is_retried_then_raises_naming_it(tmp_path, ring, log_queue):
    (tmp_path / "broken.jpg").write_bytes(b"not a picture at all")
    config = images_config(tmp_path)
    keeper = running_keeper(log_queue, retries=1)
    keeper.start(ring, config, MODEL_SIZE)
    check_until(keeper, ring, config, lambda _: keeper.restarts == 1)
    with pytest.raises(SourceError) as raised:
        check_until(keeper, ring, config, lambda _: False)
    message = str(raised.value)
    assert "broken.jpg" in message and message.endswith("(2 failures in a row)")
    assert keeper.child is None and keeper.restarts == 1


def test_a_reload_stop_lets_the_next_capture_run(ring, log_queue):
    config = AppConfig(source={"type": "synthetic", "width": 64, "height": 48, "fps": 50})
    keeper = running_keeper(log_queue, retries=0)
    keeper.start(ring, config, MODEL_SIZE)
    first = keeper.child.process
    keeper.stop(5.0, for_good=False)
    assert keeper.child is None and not keeper.stop_event.is_set()
    assert first.exitcode == 0  # it stopped when asked, it was not killed
    keeper.start(ring, config, MODEL_SIZE)
    check_until(keeper, ring, config, lambda _: ring.counters[Counter.FRAMES_CAPTURED] > 0)
    keeper.stop(5.0)
    assert keeper.stop_event.is_set() and keeper.child.process.exitcode == 0
    keeper.child.connection.close()


def test_capture_opens_its_source_at_once_but_reads_only_once_told_to_begin(ring, log_queue):
    config = AppConfig(source={"type": "synthetic", "width": 64, "height": 48, "fps": 200})
    keeper = CaptureKeeper(CTX, log_queue, Backoff(0.1, 0.1, retries=0))
    keeper.start(ring, config, MODEL_SIZE)
    time.sleep(1.0)  # long enough for 200 frames, were it reading
    assert keeper.child.process.is_alive()
    assert int(ring.counters[Counter.FRAMES_CAPTURED]) == 0
    keeper.begin()
    check_until(keeper, ring, config, lambda _: ring.counters[Counter.FRAMES_CAPTURED] >= 3)
    keeper.stop(5.0)
    assert keeper.child.process.exitcode == 0
    keeper.child.connection.close()


def test_a_capture_stopped_before_it_began_exits_cleanly_having_read_nothing(ring, log_queue):
    config = AppConfig(source={"type": "synthetic", "width": 64, "height": 48, "fps": 200})
    keeper = CaptureKeeper(CTX, log_queue, Backoff(0.1, 0.1, retries=0))
    keeper.start(ring, config, MODEL_SIZE)
    time.sleep(0.5)
    keeper.stop(5.0)  # the workers never got ready: a failed start, or a signal meanwhile
    assert keeper.child.process.exitcode == 0
    assert int(ring.counters[Counter.FRAMES_CAPTURED]) == 0
    keeper.child.connection.close()

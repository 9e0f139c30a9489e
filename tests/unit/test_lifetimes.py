"""Explicit lifetimes: a ring slot read in a block, a double release refused, recorded signals,
a shared-memory segment created and removed by its owner only."""

from __future__ import annotations

import multiprocessing
import os
import signal
import typing

import pytest

from edgeeye.config.sections import SourceConfig
from edgeeye.pipeline.frames import FrameDescriptor, frame_view
from edgeeye.pipeline.ring import FrameRing, SlotState, SlotStateError
from edgeeye.pipeline.segment import SHM_DIR, Segment
from edgeeye.sources.configured import SOURCE_TYPES
from edgeeye.sources.frame import PixelFormat
from edgeeye.supervision.signals import CapturedSignals, capture_signals

CTX = multiprocessing.get_context("spawn")


@pytest.fixture
def ring():
    made = FrameRing.create(CTX, slot_count=2, slot_bytes=4 * 4 * 3)
    yield made
    made.close()


def _publish(ring: FrameRing, sequence: int) -> FrameDescriptor:
    acquired = ring.acquire_for_write(drop_oldest=False, timeout=0.1)
    assert acquired is not None
    descriptor = FrameDescriptor(acquired[0], sequence, 0, 4, 4, PixelFormat.RGB888)
    frame_view(ring.slot(descriptor.slot_index), descriptor)[:] = sequence
    ring.publish(descriptor)
    return descriptor


def test_a_slot_read_in_a_block_is_free_again_after_it(ring):
    _publish(ring, 7)
    descriptor = ring.take(worker_id=0, timeout=0.1)
    with ring.reading(descriptor) as frame:
        assert frame.shape == (4, 4, 3) and int(frame[0, 0, 0]) == 7
        assert ring.slot_state[descriptor.slot_index] == SlotState.READING
    assert ring.slot_state[descriptor.slot_index] == SlotState.FREE
    assert ring.free_slot_count() == 2


def test_a_block_that_raises_still_gives_the_slot_back(ring):
    _publish(ring, 1)
    descriptor = ring.take(worker_id=0, timeout=0.1)
    with pytest.raises(ZeroDivisionError), ring.reading(descriptor):
        _ = 1 / 0
    assert ring.slot_state[descriptor.slot_index] == SlotState.FREE
    assert ring.idle()


def test_releasing_a_slot_twice_is_an_error_not_a_miscount(ring):
    _publish(ring, 1)
    descriptor = ring.take(worker_id=0, timeout=0.1)
    ring.release(descriptor.slot_index)
    with pytest.raises(SlotStateError, match=rf"slot {descriptor.slot_index} released while FREE"):
        ring.release(descriptor.slot_index)
    # The free count was not bumped a second time: exactly two slots can be written.
    assert ring.acquire_for_write(drop_oldest=False, timeout=0.05) is not None
    assert ring.acquire_for_write(drop_oldest=False, timeout=0.05) is not None
    assert ring.acquire_for_write(drop_oldest=False, timeout=0.05) is None


def test_signal_handlers_only_record(monkeypatch):
    captured = CapturedSignals()
    with capture_signals(captured):
        assert signal.getsignal(signal.SIGTERM) == captured.handle
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGHUP)
        assert captured.take_reload() and not captured.take_reload()  # one reload per burst
        os.kill(os.getpid(), signal.SIGINT)
        assert captured.stops == [signal.SIGINT] and not captured.force_exit
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C asks to skip draining
        assert captured.force_exit and captured.wake.is_set()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_segment_is_removed_by_its_owner_only():
    owner = Segment.create("test", 4096, "a test segment")
    attached = Segment.attach(owner.name, 4096)
    attached.view[:3] = b"abc"
    assert bytes(owner.view[:3]) == b"abc"
    attached.close()
    attached.close()  # safe twice
    assert (SHM_DIR / owner.name).exists()
    owner.close()
    owner.close()
    assert not (SHM_DIR / owner.name).exists()
    with pytest.raises(ValueError, match="is closed"):
        _ = owner.view


def test_every_source_type_in_the_config_has_an_implementation():
    union = typing.get_args(SourceConfig)[0]  # Annotated[Union[...], discriminator]
    assert set(typing.get_args(union)) == set(SOURCE_TYPES)

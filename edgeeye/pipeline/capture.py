"""The capture process: owns the frame source, fills ring slots, publishes descriptors."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

from edgeeye.errors import BadFrameError, EdgeeyeError, SourceError
from edgeeye.pipeline.frames import FrameDescriptor
from edgeeye.pipeline.process_setup import pre_run_setup, yield_to_workers
from edgeeye.pipeline.ring import Counter, FrameRing, RingHandle
from edgeeye.sources.frame import FrameSource, SourceSettings

if TYPE_CHECKING:
    from edgeeye.pipeline.process_setup import LogQueue

log = logging.getLogger(__name__)

#: Exit status of the capture process when its source fails (the supervisor reads it).
EXIT_SOURCE_FAILED = 4


@dataclass(frozen=True)
class CaptureSpec:
    ring: RingHandle
    source: SourceSettings
    model_size: tuple[int, int]
    stop: Event  # set by the supervisor to end capture
    #: Set by the supervisor once the workers are ready: capture opens its source while
    #: they load their model (a camera takes as long to start), and reads after.
    begin: Event
    errors: Connection  # one line sent here before a failing exit
    log_queue: LogQueue
    log_level: str
    first_sequence: int = 0
    #: The appliance's main process (children are forked by the child server, not by it).
    main_pid: int = field(default_factory=os.getpid)


def run_capture(spec: CaptureSpec) -> None:
    """Entry of the ``edgeeye.capture`` process.

    Reads: frames from the configured source, once ``spec.begin`` is set (the source is
    opened before).  Writes: each frame into a free ring slot (or the slot of the oldest
    waiting frame, which is then dropped, unless the source is finite) and its descriptor
    into the ring's pipe.  Stops when ``spec.stop`` is set, or after the
    last frame of a finite source (setting ``SOURCE_DONE``); exits with
    ``EXIT_SOURCE_FAILED`` after sending one line on ``spec.errors`` if the source fails.
    """
    pre_run_setup(
        "edgeeye.capture", "edgeeye-capture", spec.log_queue, spec.log_level, spec.main_pid
    )
    yield_to_workers()  # before the source starts its own threads, which inherit it
    ring = FrameRing.attach(spec.ring)
    source = spec.source.make(spec.model_size)
    try:
        source.open()
        if _begun(spec):
            _capture_loop(ring, source, spec)
    except EdgeeyeError as exc:
        spec.errors.send(str(exc))
        raise SystemExit(EXIT_SOURCE_FAILED) from None
    finally:
        source.close()
        ring.close()


class _BadFrames:
    """Skipped frames: each distinct cause logged once, and too many in a row is a failure."""

    _REMEMBERED = 1000  # causes kept for log-once; a looping folder repeats the same few

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0
        self._logged: set[str] = set()

    def skipped(self, exc: BadFrameError) -> None:
        self.in_a_row += 1
        cause = str(exc)
        if cause not in self._logged and len(self._logged) < self._REMEMBERED:
            self._logged.add(cause)
            log.warning("skipped a frame: %s", cause)
        if self.in_a_row >= self.limit:
            raise SourceError(f"{cause} ({self.in_a_row} unusable frames in a row)")


#: How often capture, opened before the workers are ready, looks for a stop meanwhile.
_BEGIN_POLL_S = 0.05


def _begun(spec: CaptureSpec) -> bool:
    """Wait for ``begin``; False when ``stop`` came first (the start was called off)."""
    while not spec.begin.wait(_BEGIN_POLL_S):
        if spec.stop.is_set():
            return False
    return not spec.stop.is_set()


def _capture_loop(ring: FrameRing, source: FrameSource, spec: CaptureSpec) -> None:
    sequence = spec.first_sequence
    bad_frames = _BadFrames(source.bad_frame_limit)
    drop_oldest = not source.finite
    while not spec.stop.is_set():
        acquired = ring.acquire_for_write(drop_oldest=drop_oldest, timeout=0.2)
        if acquired is None:
            continue
        slot_index, _dropped = acquired
        try:
            frame = source.read_into(ring.slot(slot_index), sequence)
        except BadFrameError as exc:
            ring.abandon(slot_index)
            ring.counters[Counter.FRAMES_SKIPPED] += 1
            bad_frames.skipped(exc)
            continue
        except BaseException:
            ring.abandon(slot_index)
            raise
        if frame is None:
            ring.abandon(slot_index)
            ring.counters[Counter.SOURCE_DONE] = 1
            log.info("source finished after %d frames", sequence - spec.first_sequence)
            return
        ring.publish(
            FrameDescriptor(
                slot_index=slot_index,
                sequence=sequence,
                capture_ts_ns=frame.captured_ns or time.monotonic_ns(),
                height=frame.height,
                width=frame.width,
                pixel_format=frame.pixel_format,
                tag=frame.tag,
            )
        )
        sequence += 1
        bad_frames.in_a_row = 0

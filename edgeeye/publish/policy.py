"""The publish policy: which results are sent, and which of them are changes.

Pure logic, fed by the publisher thread with each result and a clock, so it can be tested
frame by frame.  A result's *state* is its top-1 label after the label filters and
``min_score`` (per label where ``min_score_per_label`` says; a detector's labels are those
of the detections that pass them, best first), plus whether that label scores at least
``score_threshold`` (when set).

- ``every_frame``: every result is sent, at most ``max_rate`` a second.  One whose state
  differs from the last snapshot's, ``hold_s`` or more after it, is a change.
- ``on_change``: a result is sent when its state differs from the last one sent and
  ``hold_s`` has passed since the last change; a state seen during the hold is sent when it
  ends if it is still the latest (going back to the sent state cancels it).  With nothing
  sent for ``heartbeat_s``, the latest result in the current state is sent again.
  ``max_rate`` caps all of it: a change waits for its turn, it is not dropped.  A result
  older than one already seen (workers finish out of order) is not considered.

Every change is offered to ``grab`` (the snapshot hook) the moment it is seen, because
the frame behind it is overwritten soon after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from edgeeye.inference.results import Detection, Label, RegionLabels
from edgeeye.pipeline.messages import Result
from edgeeye.publish.policy_settings import LiveSettings
from edgeeye.publish.seen import what_is_seen

__all__ = ["CHANGE", "FRAME", "HEARTBEAT", "LiveSettings", "Outgoing", "PublishPolicy", "State"]


@dataclass(frozen=True, slots=True)
class State:
    """What a change is a change of: the top-1 label, whether it scores at least
    ``score_threshold``, and each region's top-1 label."""

    label: str | None
    confident: bool = False
    regions: tuple[str | None, ...] = ()


FRAME, CHANGE, HEARTBEAT = "frame", "change", "heartbeat"


@dataclass(slots=True)
class Outgoing:
    """A result the policy decided to send, with the labels (and a detector's detections)
    that survived the filters."""

    result: Result
    labels: list[Label]
    reason: str  # FRAME, CHANGE or HEARTBEAT
    state: State
    detections: tuple[Detection, ...] = ()
    regions: tuple[RegionLabels, ...] = ()
    #: What ``grab`` returned for this result (a copy of its frame), for a change.
    snapshot: np.ndarray | None = None


class PublishPolicy:
    """Decides, result by result, what to send; ``results_suppressed`` counts the rest."""

    def __init__(self, settings: LiveSettings) -> None:
        self.settings = settings
        #: Called with a change's result (as soon as it is seen) when snapshots are on;
        #: its return value travels with the change as ``Outgoing.snapshot``.
        self.grab: Callable[[Result], np.ndarray | None] | None = None
        self.results_suppressed = 0
        self._sent_state: State | None = None  # on_change: the state subscribers last got
        self._change_state: State | None = None  # every_frame: the last change's state
        self._hold_until = 0.0
        self._last_sent_at: float | None = None
        self._pending: Outgoing | None = None
        self._current: Outgoing | None = None  # latest result in the sent state
        self._newest_sequence = -1

    def offer(self, result: Result, now: float) -> Outgoing | None:
        """The result to send now for this one, if any."""
        seen = what_is_seen(result, self.settings)
        labels, detections, regions = seen.labels, seen.detections, seen.regions
        state = self._state_of(labels, regions)
        if self.settings.publish.mode == "every_frame":
            return self._every_frame(
                Outgoing(result, labels, FRAME, state, detections, regions), now
            )
        if result.sequence < self._newest_sequence:
            # Workers finish out of order: an older frame must not undo a newer state.
            self.results_suppressed += 1
            return None
        self._newest_sequence = result.sequence
        candidate = Outgoing(result, labels, CHANGE, state, detections, regions)
        if state == self._sent_state:
            if self._pending is not None:
                self.results_suppressed += 1  # the change it would have been is cancelled
            self._pending = None
            candidate.reason = HEARTBEAT
            self._current = candidate
            self.results_suppressed += 1
            return None
        if self._pending is not None:
            self.results_suppressed += 1  # replaced by a fresher result in the new state
        self._pending = candidate
        self._grab(candidate)
        return self.tick(now)

    def tick(self, now: float) -> Outgoing | None:
        """What is due without a new result: a change whose hold ended, or a heartbeat."""
        if self.settings.publish.mode == "every_frame" or not self._rate_allows(now):
            return None
        pending = self._pending
        if pending is not None:
            if now < self._hold_until:
                return None
            self._pending = None
            self._sent_state = pending.state
            self._hold_until = now + self.settings.publish.hold_s
            self._current = replace(pending, reason=HEARTBEAT, snapshot=None)
            return self._sent(pending, now)
        heartbeat_s = self.settings.publish.heartbeat_s
        last = self._last_sent_at
        beat = self._current
        if heartbeat_s and beat is not None and last is not None and now - last >= heartbeat_s:
            return self._sent(replace(beat, reason=HEARTBEAT, snapshot=None), now)
        return None

    def flush(self, now: float) -> Outgoing | None:
        """At stop: a change still waiting for its hold, so subscribers keep the last state."""
        pending, self._pending = self._pending, None
        return self._sent(pending, now) if pending is not None else None

    def next_due(self, now: float) -> float | None:
        """Seconds until ``tick`` may have something to send (None: only after a result)."""
        if self.settings.publish.mode == "every_frame":
            return None
        waits = []
        if self._pending is not None:
            waits.append(max(self._hold_until, self._rate_ready_at()) - now)
        elif self.settings.publish.heartbeat_s and self._current is not None:
            beat_at = (self._last_sent_at or 0.0) + self.settings.publish.heartbeat_s
            waits.append(max(beat_at, self._rate_ready_at()) - now)
        return max(0.0, min(waits)) if waits else None

    def _every_frame(self, outgoing: Outgoing, now: float) -> Outgoing | None:
        if not self._rate_allows(now):
            self.results_suppressed += 1
            return None
        if outgoing.state != self._change_state and now >= self._hold_until:
            self._change_state = outgoing.state
            self._hold_until = now + self.settings.publish.hold_s
            outgoing.reason = CHANGE
            self._grab(outgoing)
        return self._sent(outgoing, now)

    def _sent(self, outgoing: Outgoing, now: float) -> Outgoing:
        self._last_sent_at = now
        return outgoing

    def _grab(self, outgoing: Outgoing) -> None:
        if self.grab is not None and self.settings.snapshot_enabled:
            outgoing.snapshot = self.grab(outgoing.result)

    def _rate_ready_at(self) -> float:
        max_rate = self.settings.publish.max_rate
        if not max_rate or self._last_sent_at is None:
            return 0.0
        return self._last_sent_at + 1.0 / max_rate

    def _rate_allows(self, now: float) -> bool:
        # A hair of tolerance: a 0.2 s tick must not miss a 5/s slot by rounding.
        return now + 1e-6 >= self._rate_ready_at()

    def _state_of(self, labels: list[Label], regions: tuple[RegionLabels, ...]) -> State:
        tops = tuple(r.labels[0][1] if r.labels else None for r in regions)
        if not labels:
            return State(None, False, tops)
        threshold = self.settings.publish.score_threshold
        return State(labels[0][1], threshold is not None and labels[0][2] >= threshold, tops)

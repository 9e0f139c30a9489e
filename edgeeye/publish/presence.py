"""Presence per label: is there a person at the door?  One message per change.

Pure logic, fed by the publisher thread with every result (before the publish policy, so
``on_change`` or ``max_rate`` do not starve it) and a clock.  An entry turns on after
``frames`` results in a row hold its label (in its region, if it has one) at its score or
more, and off once ``off_s`` pass without one; a result older than one already seen
(workers finish out of order) is not counted.  Each change gives a ``PresenceChange``,
which the publisher sends as the entry's retained state and as an arrival or departure
event.  After a start the appliance knows nothing yet: every entry is off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from edgeeye.config.scene import PresenceConfig
from edgeeye.inference.results import Task
from edgeeye.pipeline.messages import Result
from edgeeye.publish.payloads import compact_json


class PresenceEvent(Enum):
    ARRIVED = "arrived"
    DEPARTED = "departed"


@dataclass(frozen=True, slots=True)
class PresenceState:
    """An entry's state as published: retained on ``presence/<key>``."""

    key: str
    label: str
    region: str | None
    present: bool
    count: int  # matching detections in the frame that turned it on (a classifier: 1)
    score: float | None  # the best of them
    sequence: int | None  # the frame that turned it on, or the last it was seen in
    since: str  # UTC, ISO-8601


@dataclass
class _Entry:
    config: PresenceConfig
    state: PresenceState
    streak: int = 0
    last_seen: float | None = None
    last_sequence: int | None = None


def _now_iso() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PresenceTracker:
    """Every configured entry's state; ``observe`` and ``tick`` return what changed."""

    def __init__(self, entries: tuple[PresenceConfig, ...]) -> None:
        started = _now_iso()
        self._entries = [
            _Entry(e, PresenceState(e.key, e.label, e.region, False, 0, None, None, started))
            for e in entries
        ]
        self._newest_sequence = -1

    def states(self) -> list[PresenceState]:
        return [entry.state for entry in self._entries]

    def observe(
        self, result: Result, now: float, floor: Callable[[str], float]
    ) -> list[PresenceState]:
        """The entries this result changes; ``floor`` is a label's publish floor, the
        score an entry without its own ``min_score`` needs."""
        if not self._entries or result.sequence <= self._newest_sequence:
            return []
        self._newest_sequence = result.sequence
        changed = []
        for entry in self._entries:
            config = entry.config
            needed = floor(config.label) if config.min_score is None else config.min_score
            count, best = _matching(result, config, needed)
            if count:
                entry.streak += 1
                entry.last_seen, entry.last_sequence = now, result.sequence
                if not entry.state.present and entry.streak >= config.frames:
                    changed.append(self._turn(entry, True, count, best, result.sequence))
            else:
                entry.streak = 0
        return changed + self.tick(now)

    def tick(self, now: float) -> list[PresenceState]:
        """Entries whose ``off_s`` has run out without their label."""
        changed = []
        for entry in self._entries:
            last = entry.last_seen
            if entry.state.present and last is not None and now - last >= entry.config.off_s:
                changed.append(self._turn(entry, False, 0, None, entry.last_sequence))
        return changed

    def next_due(self, now: float) -> float | None:
        """Seconds until ``tick`` may turn an entry off (None: nothing is on)."""
        waits = [
            entry.last_seen + entry.config.off_s - now
            for entry in self._entries
            if entry.state.present and entry.last_seen is not None
        ]
        return max(0.0, min(waits)) if waits else None

    @staticmethod
    def _turn(
        entry: _Entry, present: bool, count: int, score: float | None, sequence: int | None
    ) -> PresenceState:
        old = entry.state
        entry.state = PresenceState(
            old.key, old.label, old.region, present, count, score, sequence, _now_iso()
        )
        return entry.state


def _matching(result: Result, config: PresenceConfig, needed: float) -> tuple[int, float | None]:
    """How many of ``config``'s label the result holds at ``needed`` or more, and the best."""
    if result.task is Task.DETECT:
        scores = [
            d.score
            for d in result.detections
            if d.label == config.label
            and d.score >= needed
            and (config.region is None or config.region in d.regions)
        ]
    else:
        labels = result.labels
        if config.region is not None:
            labels = next((r.labels for r in result.regions if r.name == config.region), [])
        scores = [s for _, label, s in labels if label == config.label and s >= needed]
    return len(scores), (max(scores) if scores else None)


def state_payload(device_id: str, state: PresenceState) -> bytes:
    """The retained document on ``<prefix>/<device>/presence/<key>``."""
    return compact_json(
        {
            "device": device_id,
            "presence": state.key,
            "label": state.label,
            "region": state.region,
            "state": "on" if state.present else "off",
            "count": state.count,
            "score": state.score,
            "sequence": state.sequence,
            "since": state.since,
        }
    )


def event_payload(device_id: str, state: PresenceState) -> bytes:
    """The event on ``<prefix>/<device>/presence/<key>/event`` (Home Assistant's event
    entity reads ``event_type``)."""
    event = PresenceEvent.ARRIVED if state.present else PresenceEvent.DEPARTED
    return compact_json(
        {
            "event_type": event.value,
            "device": device_id,
            "presence": state.key,
            "label": state.label,
            "region": state.region,
            "count": state.count,
            "score": state.score,
            "sequence": state.sequence,
            "at": state.since,
        }
    )

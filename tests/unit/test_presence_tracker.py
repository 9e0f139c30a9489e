"""The presence tracker, result by result, on a clock the test controls."""

from __future__ import annotations

import pytest

from edgeeye.config.scene import PresenceConfig
from edgeeye.inference.results import Detection, RegionLabels, Task, labels_of
from edgeeye.pipeline.messages import Result
from edgeeye.publish.presence import PresenceTracker

PERSON_AT_DOOR = Detection(0, "person", 0.8, (0.1, 0.2, 0.3, 0.9), ("door",))
PERSON_IN_DRIVE = Detection(0, "person", 0.8, (0.6, 0.2, 0.8, 0.9), ("drive",))
FAINT_PERSON = Detection(0, "person", 0.55, (0.1, 0.2, 0.3, 0.9), ("door",))


def _detected(sequence: int, *found: Detection) -> Result:
    return Result(sequence, 0, 0, labels_of(found), 10.0, 0, task=Task.DETECT, detections=found)


def _floor(_label: str) -> float:
    return 0.5


def _feed(tracker: PresenceTracker, frames: list[tuple[float, Result]]) -> list[tuple]:
    changes = []
    for now, result in frames:
        for state in tracker.observe(result, now, _floor):
            changes.append((now, state.key, state.present, state.sequence))
    return changes


def test_on_after_frames_in_a_row_off_after_off_s_without():
    tracker = PresenceTracker((PresenceConfig(label="person", frames=3, off_s=2.0),))
    frames = [(0.1 * i, _detected(i, PERSON_AT_DOOR)) for i in range(3)]
    frames += [(0.3 + 0.1 * i, _detected(3 + i)) for i in range(5)]
    assert _feed(tracker, frames) == [(0.2, "person", True, 2)]
    assert tracker.next_due(0.7) == pytest.approx(1.5)
    assert tracker.tick(2.1) == []
    (off,) = tracker.tick(2.2)
    assert (off.present, off.sequence, off.count, off.score) == (False, 2, 0, None)
    assert tracker.next_due(2.3) is None


def test_a_gap_restarts_the_count_and_a_return_in_time_keeps_it_on():
    tracker = PresenceTracker((PresenceConfig(label="person", frames=2, off_s=1.0),))
    seen, empty = PERSON_AT_DOOR, None
    script = [seen, empty, seen, empty, seen, seen, empty, empty, seen]
    frames = [(0.1 * i, _detected(i, *(() if d is empty else (d,)))) for i, d in enumerate(script)]
    # On at the first two in a row (4, 5); the later gaps are shorter than off_s.
    assert _feed(tracker, frames) == [(0.5, "person", True, 5)]


def test_regions_labels_and_scores_select_what_counts():
    entries = (
        PresenceConfig(label="person", region="door", frames=1, off_s=1.0),
        PresenceConfig(label="person", region="drive", frames=1, off_s=1.0),
        PresenceConfig(label="person", min_score=0.7, frames=1, off_s=1.0, id="sure_person"),
    )
    tracker = PresenceTracker(entries)
    changes = _feed(tracker, [(0.0, _detected(0, FAINT_PERSON))])
    assert changes == [(0.0, "door_person", True, 0)]
    changes = _feed(tracker, [(0.1, _detected(1, PERSON_IN_DRIVE))])
    assert changes == [(0.1, "drive_person", True, 1), (0.1, "sure_person", True, 1)]


def test_an_older_result_than_one_seen_is_not_counted():
    tracker = PresenceTracker((PresenceConfig(label="person", frames=2, off_s=1.0),))
    assert _feed(tracker, [(0.0, _detected(5, PERSON_AT_DOOR))]) == []
    assert _feed(tracker, [(0.1, _detected(4, PERSON_AT_DOOR))]) == []  # out of order
    assert _feed(tracker, [(0.2, _detected(6, PERSON_AT_DOOR))]) == [(0.2, "person", True, 6)]


def test_a_classifiers_labels_and_regions_count_too():
    entries = (
        PresenceConfig(label="macaw", frames=1, off_s=1.0),
        PresenceConfig(label="Egyptian cat", region="sofa", frames=1, off_s=1.0),
    )
    tracker = PresenceTracker(entries)
    result = Result(
        0,
        0,
        0,
        [(89, "macaw", 0.99), (286, "Egyptian cat", 0.4)],
        10.0,
        0,
        regions=(RegionLabels("sofa", [(286, "Egyptian cat", 0.78)]),),
    )
    states = tracker.observe(result, 0.0, lambda label: 0.5)
    assert [(s.key, s.present, s.count) for s in states] == [
        ("macaw", True, 1),
        ("sofa_egyptian_cat", True, 1),
    ]

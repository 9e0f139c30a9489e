"""The publish policy, frame by frame, on a clock the test controls."""

from __future__ import annotations

import itertools

from edgeeye.config.sections import PublishConfig
from edgeeye.pipeline.messages import Result
from edgeeye.publish.policy import CHANGE, FRAME, HEARTBEAT, LiveSettings, PublishPolicy, State

CAT, DOG, BIRD = (1, "cat", 0.9), (2, "dog", 0.8), (3, "bird", 0.7)


def _policy(snapshots: bool = False, min_score: float = 0.0, **publish) -> PublishPolicy:
    return PublishPolicy(LiveSettings(min_score, PublishConfig(**publish), snapshots))


def _result(sequence: int, *labels: tuple[int, str, float]) -> Result:
    return Result(sequence, 0, 0, list(labels), 1.0, 0)


def _feed(
    policy: PublishPolicy, frames: list[tuple[float, tuple]], send_times: list | None = None
) -> list[tuple[int, str]]:
    """Offer (time, labels) results, ticking every 0.1 s between them, as the publisher does."""
    sent, now, ticks = [], 0.0, 0
    for sequence, (at, labels) in enumerate(frames):
        while (ticks + 1) * 0.1 <= at + 1e-9:
            ticks += 1
            now = ticks * 0.1
            if (out := policy.tick(now)) is not None:
                sent.append((out.result.sequence, out.reason))
                if send_times is not None:
                    send_times.append(now)
        now = at
        if (out := policy.offer(_result(sequence, *labels), now)) is not None:
            sent.append((out.result.sequence, out.reason))
            if send_times is not None:
                send_times.append(now)
    return sent


def test_every_frame_sends_each_result_and_marks_changes():
    policy = _policy(hold_s=0)
    sent = _feed(policy, [(0.0, (CAT,)), (0.1, (CAT,)), (0.2, (DOG,)), (0.3, (DOG,))])
    assert sent == [(0, CHANGE), (1, FRAME), (2, CHANGE), (3, FRAME)]
    assert policy.results_suppressed == 0


def test_every_frame_obeys_max_rate():
    policy = _policy(max_rate=2)  # one every 0.5 s
    frames = [(i * 0.1, (CAT,)) for i in range(20)]  # 2 s at 10 fps
    assert [seq for seq, _ in _feed(policy, frames)] == [0, 5, 10, 15]
    assert policy.results_suppressed == 16


def test_on_change_sends_changes_only():
    policy = _policy(mode="on_change", hold_s=0, heartbeat_s=0)
    labels = [CAT, CAT, CAT, DOG, DOG, CAT, BIRD, BIRD]
    sent = _feed(policy, [(i * 0.5, (label,)) for i, label in enumerate(labels)])
    assert sent == [(0, CHANGE), (3, CHANGE), (5, CHANGE), (6, CHANGE)]


def test_hold_time_turns_flicker_into_one_change_per_hold():
    policy = _policy(mode="on_change", hold_s=1.0, heartbeat_s=0)
    # cat, then dog/cat flicker every 0.1 s for 3 s, then dog for good
    frames = [(0.0, (CAT,))]
    frames += [(0.1 * i, (DOG,) if i % 2 else (CAT,)) for i in range(1, 31)]
    frames += [(3.1 + 0.1 * i, (DOG,)) for i in range(20)]
    times: list[float] = []
    sent = _feed(policy, frames, times)
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times)), times
    assert 3 <= len(sent) <= 5, sent  # one per hold, not one per flicker (30)
    assert [frames[seq][1] for seq, _ in sent][-1] == (DOG,)  # the settled state arrives


def test_change_within_hold_is_sent_when_it_ends_and_a_return_cancels_it():
    policy = _policy(mode="on_change", hold_s=1.0, heartbeat_s=0)
    sent = _feed(policy, [(0.0, (CAT,)), (0.2, (DOG,)), (0.5, (DOG,)), (2.0, (DOG,))])
    assert sent == [(0, CHANGE), (2, CHANGE)]  # the latest dog, at the end of the hold
    policy = _policy(mode="on_change", hold_s=1.0, heartbeat_s=0)
    sent = _feed(policy, [(0.0, (CAT,)), (0.2, (DOG,)), (0.5, (CAT,)), (2.0, (CAT,))])
    assert sent == [(0, CHANGE)]


def test_heartbeat_repeats_the_current_state():
    policy = _policy(mode="on_change", hold_s=0, heartbeat_s=1.0)
    sent = _feed(policy, [(0.1 * i, (CAT,)) for i in range(35)])
    assert [reason for _, reason in sent] == [CHANGE, HEARTBEAT, HEARTBEAT, HEARTBEAT]
    beats = [seq for seq, _ in sent][1:]
    assert beats == sorted(set(beats)) and beats[0] >= 9  # the freshest cat each time


def test_score_threshold_crossing_is_a_change():
    policy = _policy(mode="on_change", hold_s=0, heartbeat_s=0, score_threshold=0.5)
    scores = [0.3, 0.4, 0.6, 0.7, 0.2]
    sent = _feed(policy, [(i * 1.0, ((1, "cat", s),)) for i, s in enumerate(scores)])
    assert [seq for seq, _ in sent] == [0, 2, 4]


def test_label_filters_and_min_score_shape_what_is_sent():
    policy = _policy(exclude=("dog",), min_score=0.75)
    out = policy.offer(_result(0, DOG, CAT, BIRD), 0.0)
    assert out is not None and out.labels == [CAT]  # dog excluded, bird under min_score
    policy = _policy(include=("bird",))
    out = policy.offer(_result(0, DOG, CAT, BIRD), 0.0)
    assert out.labels == [BIRD] and out.state == State("bird", False)


def test_on_change_max_rate_delays_a_change_but_keeps_it():
    policy = _policy(mode="on_change", hold_s=0, heartbeat_s=0, max_rate=1)
    sent = _feed(policy, [(0.0, (CAT,)), (0.2, (DOG,)), (0.4, (DOG,)), (1.5, (DOG,))])
    assert sent == [(0, CHANGE), (2, CHANGE)]  # dog waited for its slot at t=1.0


def test_changes_are_grabbed_for_snapshots_when_they_are_seen():
    policy = _policy(snapshots=True, mode="on_change", hold_s=1.0, heartbeat_s=0)
    grabbed = []
    policy.grab = lambda result: grabbed.append(result.sequence) or f"frame{result.sequence}"
    sent = []
    for sequence, (at, labels) in enumerate([(0.0, (CAT,)), (0.2, (DOG,)), (0.3, (DOG,))]):
        if (out := policy.offer(_result(sequence, *labels), at)) is not None:
            sent.append(out)
    # each fresher dog replaces the waiting change, frame and all
    assert grabbed == [0, 1, 2] and [o.snapshot for o in sent] == ["frame0"]
    out = policy.tick(1.0)
    assert out.result.sequence == 2 and out.snapshot == "frame2"
    off = _policy(snapshots=False, mode="on_change")
    off.grab = lambda result: "frame"
    assert off.offer(_result(0, CAT), 0.0).snapshot is None


def test_on_change_ignores_a_frame_older_than_one_already_seen():
    policy = _policy(mode="on_change", hold_s=0, heartbeat_s=0)
    assert policy.offer(_result(10, CAT), 0.0).reason == CHANGE
    assert policy.offer(_result(12, DOG), 0.1).result.sequence == 12
    assert policy.offer(_result(11, CAT), 0.2) is None  # finished late: not a change back
    assert policy.tick(0.5) is None


def test_next_due_never_asks_for_a_busy_wait():
    policy = _policy(mode="on_change", hold_s=1.0, heartbeat_s=5.0, max_rate=0.5)
    assert policy.next_due(0.0) is None  # nothing seen yet: wake only for a result
    policy.offer(_result(0, CAT), 0.0)
    assert policy.next_due(0.0) == 5.0  # the heartbeat
    policy.offer(_result(1, DOG), 0.5)  # waits for the hold and the rate (one per 2 s)
    assert policy.next_due(0.5) == 1.5
    assert policy.tick(2.0).result.sequence == 1
    # A switch from every_frame with nothing to repeat yet must not ask to wake at once.
    switched = _policy(mode="every_frame")
    switched.offer(_result(0, CAT), 0.0)
    switched.settings = LiveSettings(0.0, PublishConfig(mode="on_change"), False)
    assert switched.next_due(120.0) is None

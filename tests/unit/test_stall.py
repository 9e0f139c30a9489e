"""The rule that finds a worker that stopped taking frames (SIGSTOP, a wedge outside invoke)."""

from edgeeye.supervision.stall import StallWatch


def _run(watch, looks):
    """``looks``: (time, frames waiting, {worker: (frames, busy)}) in order; the last verdict."""
    verdict = {}
    for now, waiting, counts in looks:
        verdict = watch.look(now, waiting, counts)
    return verdict


def test_a_worker_whose_count_stands_while_frames_wait_is_stalled_after_the_deadline():
    watch = StallWatch(deadline_s=10.0)
    looks = [
        (0.0, False, {0: (0, False), 1: (0, False)}),
        (1.0, False, {0: (5, False), 1: (5, False)}),
    ]
    # from t=2 worker 1 stops; worker 0 goes on and frames keep waiting
    looks += [(float(t), True, {0: (5 + 10 * t, True), 1: (5, False)}) for t in range(2, 13)]
    assert _run(watch, looks) == {1: 10.0}


def test_a_worker_left_without_frames_is_not_stalled():
    watch = StallWatch(deadline_s=10.0)
    looks = [(0.0, False, {0: (0, False)}), (1.0, False, {0: (3, False)})]
    looks += [(float(t), t % 3 != 0, {0: (3, False)}) for t in range(2, 30)]  # frames come and go
    assert _run(watch, looks) == {}


def test_a_worker_in_an_invoke_is_left_to_the_invoke_deadline():
    watch = StallWatch(deadline_s=2.0)
    looks = [(0.0, False, {0: (0, False)}), (1.0, True, {0: (1, False)})]
    looks += [(float(t), True, {0: (1, True)}) for t in range(2, 10)]
    assert _run(watch, looks) == {}


def test_a_worker_that_never_took_a_frame_is_still_loading_and_not_watched():
    watch = StallWatch(deadline_s=2.0)
    looks = [(float(t), True, {0: (0, False), 1: (t * 10, True)}) for t in range(0, 10)]
    assert 0 not in _run(watch, looks)


def test_a_replaced_worker_starts_afresh_and_one_gone_is_forgotten():
    watch = StallWatch(deadline_s=2.0)
    looks = [(0.0, True, {0: (0, False)}), (1.0, True, {0: (1, False)})]
    looks += [(float(t), True, {0: (1, False)}) for t in range(2, 5)]
    assert _run(watch, looks) == {0: 2.0}
    watch.forget(0)
    assert watch.look(5.0, True, {0: (0, False)}) == {}  # the successor, loading
    assert watch.look(8.0, True, {0: (0, False)}) == {}
    assert watch.look(6.0, True, {}) == {}

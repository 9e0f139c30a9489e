"""Workers that stopped taking frames: SIGSTOPped, or wedged outside ``invoke``.

A worker stuck inside one invoke is seen by its busy stamp (``WorkerPool.kill_hung``).  One
stopped while waiting for a frame holds no slot and sets no stamp; the others take its
share, and capacity halves without a word.  The rule here: a worker that is not in an
invoke and has taken no frame for ``deadline_s``, while frames waited in the ring (or were
replaced by fresher ones) at every look in that time, is stalled.  A healthy idle worker
takes a waiting frame at once, so frames that keep waiting and a count that does not move
cannot both be true of it.  A worker is watched from its first frame, so one still loading
its model is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Seen:
    frames: int  # the worker's frame count at the last look
    stalled_since: float | None = None  # when frames began waiting without it taking one


class StallWatch:
    """Looks once a supervisor loop; ``stalled`` names the workers to replace."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self._seen: dict[int, _Seen] = {}

    def look(
        self, now: float, frames_waiting: bool, counts: dict[int, tuple[int, bool]]
    ) -> dict[int, float]:
        """``counts``: each worker's frames taken since it started, and whether it is in an
        invoke now (0 frames: still loading its model, not watched).
        Returns the stalled workers and for how long they have been."""
        stalled = {}
        for worker_id, (frames, busy) in counts.items():
            seen = self._seen.get(worker_id)
            if seen is None or frames != seen.frames or busy or not frames_waiting or not frames:
                self._seen[worker_id] = _Seen(frames)
                continue
            if seen.stalled_since is None:
                seen.stalled_since = now
            elif now - seen.stalled_since >= self.deadline_s:
                stalled[worker_id] = now - seen.stalled_since
        for gone in set(self._seen) - set(counts):
            del self._seen[gone]
        return stalled

    def forget(self, worker_id: int) -> None:
        """A worker replaced: its successor gets a record of its own."""
        self._seen.pop(worker_id, None)

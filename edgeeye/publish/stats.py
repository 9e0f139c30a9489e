"""The stats document: one typed structure, written by the publisher, read by watch and demo.

The supervisor counts what the pipeline did (``PipelineCounts``, from the ring's shared
counters and its own tallies); the publisher adds what it did with the results and sends
``Stats`` on ``<prefix>/<device>/stats``.  ``edgeeye watch`` and ``edgeeye demo`` read the
same model back, so a field renamed here is renamed everywhere; ``schemas/stats.schema.json``
documents it for everyone else.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

#: Kinds of restart counted in ``restarts``.
RESTART_KINDS = ("worker_exit", "worker_hang", "capture")


def percentiles(values_ms: Iterable[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of latencies in ms, to 10 µs; all None when there are none.

    The nearest-rank pick (no interpolation): every figure is a latency that happened.
    """
    ordered = sorted(values_ms)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": round(ordered[-1], 2)}


class RateMeter:
    """A count's rate per second between one reading and the next (fps between stats)."""

    def __init__(self, now: float) -> None:
        self._since = (now, 0)

    def rate(self, count: int, now: float) -> float:
        seconds = now - self._since[0]
        rate = round((count - self._since[1]) / seconds, 2) if seconds else 0.0
        self._since = (now, count)
        return rate


class LatencyWindow:
    """Capture-to-publish latencies of the most recent results, for percentiles."""

    def __init__(self, size: int = 2048) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, latency_ms: float) -> None:
        self._values.append(latency_ms)

    def percentiles(self) -> Latency:
        return Latency(**percentiles(self._values))


@dataclass(frozen=True)
class PipelineCounts:
    """The supervisor's part of the stats: frames, workers, ring, restarts, health."""

    frames_captured: int = 0
    frames_classified: int = 0
    frames_dropped: int = 0
    frames_skipped: int = 0
    frames_lost: int = 0
    worker_frames: tuple[int, ...] = ()
    workers: int = 0
    ring_slots: int = 0
    ring_slots_free: int = 0
    restarts: dict[str, int] = field(default_factory=dict)
    healthy: bool = False
    fault: str | None = None
    config_reloads: int = 0
    config_rejected: str | None = None


@dataclass(frozen=True)
class PublisherCounts:
    """The publisher's part: what became of the results, snapshots and the outbox."""

    fps: float
    results_published: int
    results_not_queued: int
    results_suppressed: int
    snapshots_published: int
    snapshots_skipped: int
    outbox_queued: int
    outbox_dropped: int


class Latency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class Stats(BaseModel):
    """The document on ``<prefix>/<device>/stats``; the README documents every field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    run: str
    uptime_s: float
    frames_captured: int
    frames_classified: int
    frames_dropped: int
    frames_skipped: int
    frames_lost: int
    worker_frames: list[int]
    workers: int
    ring_slots: int
    ring_slots_free: int
    restarts: dict[str, int]
    healthy: bool
    fault: str | None
    config_reloads: int
    config_rejected: str | None
    fps: float
    results_published: int
    results_not_queued: int
    results_suppressed: int
    snapshots_published: int
    snapshots_skipped: int
    outbox_queued: int
    outbox_dropped: int
    latency_ms: Latency
    reported_at: str

    @classmethod
    def build(
        cls,
        device: str,
        run: str,
        uptime_s: float,
        pipeline: PipelineCounts,
        publisher: PublisherCounts,
        latency: Latency,
    ) -> Stats:
        return cls(
            device=device,
            run=run,
            uptime_s=round(uptime_s, 1),
            **{**asdict(pipeline), "worker_frames": list(pipeline.worker_frames)},
            **asdict(publisher),
            latency_ms=latency,
            reported_at=datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )

    def payload(self) -> bytes:
        return self.model_dump_json().encode()

    @property
    def restart_total(self) -> int:
        return sum(self.restarts.values())

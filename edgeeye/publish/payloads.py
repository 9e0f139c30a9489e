"""The JSON documents edgeeye publishes; the README documents every field."""

from __future__ import annotations

import json
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from edgeeye.pipeline.worker import Result
from edgeeye.publish.policy import LiveSettings

STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


def wall_clock_iso(monotonic_ns: int) -> str:
    """A ``time.monotonic_ns`` instant as UTC ISO-8601 with microseconds."""
    offset_ns = time.time_ns() - time.monotonic_ns()
    wall = datetime.fromtimestamp((monotonic_ns + offset_ns) / 1e9, tz=UTC)
    return wall.isoformat(timespec="microseconds").replace("+00:00", "Z")


def result_payload(
    result: Result,
    device_id: str,
    model_name: str,
    latency_ms: float,
    source: str | None,
    labels: list[tuple[int, str, float]] | None = None,
    reason: str = "frame",
) -> bytes:
    """``labels`` are the ones left after the publish filters (default: all of them);
    ``reason`` says why the policy sent it: frame, change or heartbeat."""
    document: dict[str, Any] = {
        "device": device_id,
        "sequence": result.sequence,
        "captured_at": wall_clock_iso(result.capture_ts_ns),
        "model": model_name,
        "labels": [
            {"index": index, "label": label, "score": score}
            for index, label, score in (result.labels if labels is None else labels)
        ],
        "inference_ms": round(result.inference_ms, 3),
        "latency_ms": round(latency_ms, 3),
        "worker": result.worker_id,
        "reason": reason,
    }
    if source is not None:
        document["source"] = source
    if result.frame_stamp is not None:
        document["frame_stamp"] = result.frame_stamp
    return json.dumps(document, separators=(",", ":")).encode()


def settings_payload(device_id: str, settings: LiveSettings, remote_control: bool) -> bytes:
    """The live settings in force, on ``<prefix>/<device>/settings``."""
    document = {
        "device": device_id,
        "min_score": settings.min_score,
        "publish": settings.publish.model_dump(mode="json"),
        "snapshot": settings.snapshot_enabled,
        "remote_control": remote_control,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def error_payload(device_id: str, topic: str, payload: bytes, error: Exception) -> bytes:
    """A rejected remote command, on ``<prefix>/<device>/error``."""
    document = {
        "device": device_id,
        "topic": topic,
        "payload": payload[:200].decode("utf-8", "replace"),
        "error": str(error),
        "at": datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return json.dumps(document, separators=(",", ":")).encode()


class LatencyWindow:
    """Capture-to-publish latencies of the most recent results, for percentiles."""

    def __init__(self, size: int = 2048) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, latency_ms: float) -> None:
        self._values.append(latency_ms)

    def percentiles(self) -> dict[str, float | None]:
        if not self._values:
            return {"p50": None, "p95": None, "p99": None, "max": None}
        ordered = sorted(self._values)

        def pick(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


def stats_payload(
    device_id: str, counts: dict[str, Any], latency: dict[str, float | None], uptime_s: float
) -> bytes:
    document = {
        "device": device_id,
        "uptime_s": round(uptime_s, 1),
        **counts,
        "latency_ms": latency,
        "reported_at": datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return json.dumps(document, separators=(",", ":")).encode()

"""The JSON documents edgeeye publishes; the README documents every field."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edgeeye.config.sections import TOPIC_LEVEL, PublishConfig
from edgeeye.inference.results import Detection, Task
from edgeeye.pipeline.messages import Result
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
    detections: tuple[Detection, ...] | None = None,
) -> bytes:
    """``labels`` and ``detections`` are the ones left after the publish filters (default:
    all of them); ``reason`` says why the policy sent it: frame, change or heartbeat."""
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
    if result.task is Task.DETECT:
        found = result.detections if detections is None else detections
        document["detections"] = [
            {"index": d.index, "label": d.label, "score": d.score, "box": d.box} for d in found
        ]
        counts: dict[str, int] = {}
        for d in found:
            counts[d.label] = counts.get(d.label, 0) + 1
        document["counts"] = counts
    if source is not None:
        document["source"] = source
    if result.frame_stamp is not None:
        document["frame_stamp"] = result.frame_stamp
    return json.dumps(document, separators=(",", ":")).encode()


class SettingsDocument(BaseModel):
    """The ``settings`` document; ``schemas/settings.schema.json`` is generated from it
    (``python -m edgeeye.publish.schemas``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(pattern=TOPIC_LEVEL.pattern, description="the device_id")
    min_score: float = Field(ge=0.0, le=1.0, description="model.min_score in force")
    publish: PublishConfig = Field(description="the publish section in force")
    snapshot: bool = Field(description="snapshots on or off")
    remote_control: bool = Field(description="whether set/... commands are accepted")


def settings_payload(device_id: str, settings: LiveSettings, remote_control: bool) -> bytes:
    """The live settings in force, on ``<prefix>/<device>/settings``."""
    document = SettingsDocument(
        device=device_id,
        min_score=settings.min_score,
        publish=settings.publish,
        snapshot=settings.snapshot_enabled,
        remote_control=remote_control,
    )
    return json.dumps(document.model_dump(mode="json"), separators=(",", ":")).encode()


def error_payload(device_id: str, topic: str, payload: bytes, error: Exception | str) -> bytes:
    """A rejected remote command, on ``<prefix>/<device>/error``."""
    document = {
        "device": device_id,
        "topic": topic,
        "payload": payload[:200].decode("utf-8", "replace"),
        "error": str(error),
        "at": datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return json.dumps(document, separators=(",", ":")).encode()

"""The JSON documents edgeeye publishes; the README documents every field."""

from __future__ import annotations

import functools
import json
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edgeeye.config.sections import PublishConfig
from edgeeye.config.topic_names import TOPIC_LEVEL
from edgeeye.inference.results import Detection, Label, RegionLabels, Task
from edgeeye.pipeline.messages import Result
from edgeeye.publish.policy import LiveSettings

STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


@functools.cache
def run_id() -> str:
    """This start of the appliance: ``<pid>-<4 hex>``, in every result and stats message,
    so a consumer (the chaos run's ledger) can tell the sequence numbers of one start from
    the next's, which begin again at 0."""
    return f"{os.getpid()}-{secrets.token_hex(2)}"


#: One encoder for every message: ``json.dumps`` with separators builds a new one per call.
_compact = json.JSONEncoder(separators=(",", ":"))


def compact_json(document: object) -> bytes:
    """``document`` as JSON without spaces, UTF-8 (non-ASCII escaped, as ``json.dumps``)."""
    return _compact.encode(document).encode()


@functools.lru_cache(maxsize=2)
def _minute_prefix(minute: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))


def wall_clock_iso(monotonic_ns: int) -> str:
    """A ``time.monotonic_ns`` instant as UTC ISO-8601 with microseconds.

    Every result carries one: the date and minute are formatted once a minute, since on a
    wake-up a result at a time the ``datetime`` way cost the publisher 26 us of CPU here.
    """
    wall_ns = monotonic_ns + time.time_ns() - time.monotonic_ns()
    micros = wall_ns // 1000
    minute, micros_in_minute = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros_in_minute, 1_000_000)
    return f"{_minute_prefix(minute)}{seconds:02d}.{micros:06d}Z"


def result_payload(
    result: Result,
    device_id: str,
    model_name: str,
    latency_ms: float,
    source: str | None,
    labels: list[tuple[int, str, float]] | None = None,
    reason: str = "frame",
    detections: tuple[Detection, ...] | None = None,
    regions: tuple[RegionLabels, ...] | None = None,
) -> bytes:
    """``labels``, ``detections`` and ``regions`` are the ones left after the publish
    filters (default: all of them); ``reason`` says why the policy sent it: frame, change
    or heartbeat."""
    document: dict[str, Any] = {
        "device": device_id,
        "run": run_id(),
        "sequence": result.sequence,
        "captured_at": wall_clock_iso(result.capture_ts_ns),
        "model": model_name,
        "labels": _labels(result.labels if labels is None else labels),
        "inference_ms": round(result.inference_ms, 3),
        "latency_ms": round(latency_ms, 3),
        "worker": result.worker_id,
        "reason": reason,
    }
    in_regions = result.regions if regions is None else regions
    if result.task is Task.DETECT:
        found = result.detections if detections is None else detections
        document["detections"] = [_detection(d, bool(in_regions)) for d in found]
        document["counts"] = _counts(found)
        if in_regions:
            document["regions"] = {
                r.name: {
                    "labels": _labels(r.labels),
                    "counts": _counts([d for d in found if r.name in d.regions]),
                }
                for r in in_regions
            }
    elif in_regions:
        document["regions"] = {r.name: {"labels": _labels(r.labels)} for r in in_regions}
    if source is not None:
        document["source"] = source
    if result.frame_stamp is not None:
        document["frame_stamp"] = result.frame_stamp
    return compact_json(document)


def _labels(labels: list[Label]) -> list[dict[str, Any]]:
    return [{"index": index, "label": label, "score": score} for index, label, score in labels]


def _detection(found: Detection, with_regions: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "index": found.index,
        "label": found.label,
        "score": found.score,
        "box": found.box,
    }
    if with_regions:
        document["regions"] = found.regions
    if found.sub_label is not None:
        index, label, score = found.sub_label
        document["sub_label"] = {"index": index, "label": label, "score": score}
    return document


def _counts(detections: tuple[Detection, ...] | list[Detection]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for found in detections:
        counts[found.label] = counts.get(found.label, 0) + 1
    return counts


class SettingsDocument(BaseModel):
    """The ``settings`` document; ``schemas/settings.schema.json`` is generated from it
    (``python -m edgeeye.publish.schemas``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(pattern=f"^{TOPIC_LEVEL.pattern}$", description="the device_id")
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
    return compact_json(document.model_dump(mode="json"))


def error_payload(device_id: str, topic: str, payload: bytes, error: Exception | str) -> bytes:
    """A rejected remote command, on ``<prefix>/<device>/error``."""
    document = {
        "device": device_id,
        "topic": topic,
        "payload": payload[:200].decode("utf-8", "replace"),
        "error": str(error),
        "at": datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return compact_json(document)

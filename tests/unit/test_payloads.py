"""The result and stats documents: every documented field, with the documented types."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime

from edgeeye.config.sections import PublishConfig
from edgeeye.pipeline.messages import Result
from edgeeye.publish.payloads import (
    result_payload,
    settings_payload,
    wall_clock_iso,
)
from edgeeye.publish.policy import LiveSettings
from edgeeye.publish.stats import (
    Latency,
    LatencyWindow,
    PipelineCounts,
    PublisherCounts,
    Stats,
    percentiles,
)

RESULT_TYPES = {
    "device": str,
    "run": str,
    "sequence": int,
    "captured_at": str,
    "model": str,
    "labels": list,
    "inference_ms": float,
    "latency_ms": float,
    "worker": int,
    "reason": str,
}


def _result(**changes) -> Result:
    fields = dict(
        sequence=7,
        capture_ts_ns=time.monotonic_ns(),
        tag=-1,
        labels=[(286, "Egyptian cat", 0.8125), (282, "tabby, tabby cat", 0.1133)],
        inference_ms=7.25,
        worker_id=1,
    )
    return Result(**{**fields, **changes})


def test_result_document_has_every_field_with_its_type():
    document = json.loads(result_payload(_result(), "cam1", "mobilenet", 9.5, None))
    assert set(document) == set(RESULT_TYPES)
    for key, kind in RESULT_TYPES.items():
        assert isinstance(document[key], kind), key
    assert document["labels"][0] == {"index": 286, "label": "Egyptian cat", "score": 0.8125}
    assert (document["device"], document["sequence"], document["worker"]) == ("cam1", 7, 1)


def test_optional_fields_appear_only_when_they_mean_something():
    document = json.loads(result_payload(_result(frame_stamp=7), "c", "m", 1.0, "parrot.jpg"))
    assert document["source"] == "parrot.jpg" and document["frame_stamp"] == 7


def test_capture_time_is_utc_iso_and_close_to_now():
    stamp = wall_clock_iso(time.monotonic_ns())
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs((datetime.now(tz=UTC) - parsed).total_seconds()) < 1


def test_latency_percentiles():
    window = LatencyWindow(size=100)
    assert window.percentiles().p50 is None
    for value in range(1, 201):  # only the last 100 (101..200) are kept
        window.add(float(value))
    assert window.percentiles() == Latency(p50=151.0, p95=196.0, p99=200.0, max=200.0)
    assert percentiles([1.004, 2.0, 3.0]) == {"p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 3.0}


def test_stats_document():
    stats = Stats.build(
        "cam1",
        "4242-beef",
        12.34,
        PipelineCounts(frames_captured=3, workers=2, restarts={"capture": 1}),
        PublisherCounts(2.5, 7, 0, 1, 0, 0, 4, 0),
        Latency(p50=1.0, p95=2.0, p99=3.0, max=4.0),
    )
    document = json.loads(stats.payload())
    assert document["device"] == "cam1" and document["uptime_s"] == 12.3
    assert document["frames_captured"] == 3 and document["workers"] == 2
    assert document["results_published"] == 7 and document["outbox_queued"] == 4
    assert document["latency_ms"] == {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0}
    assert document["reported_at"].endswith("Z")
    assert Stats.model_validate(document) == stats  # what watch and demo read back


def test_settings_document():
    settings = LiveSettings(
        min_score=0.1, publish=PublishConfig(mode="on_change", hold_s=2.5), snapshot_enabled=False
    )
    document = json.loads(settings_payload("cam1", settings, remote_control=False))
    assert document["publish"]["mode"] == "on_change" and document["snapshot"] is False
    assert document["publish"]["hold_s"] == 2.5 and document["min_score"] == 0.1
    assert (document["device"], document["remote_control"]) == ("cam1", False)


def test_capture_times_keep_their_spacing_across_minute_hour_and_day():
    """The date and minute are formatted once a minute; each stamp must still be exact."""
    start, step_ns = time.monotonic_ns(), 86_413_123_456_789  # a day, 13 s and a fraction
    stamps = [wall_clock_iso(start + k * step_ns) for k in range(40)]
    parsed = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    assert all(len(s) == len("2026-12-06T06:13:51.123456Z") for s in stamps)
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(parsed)]
    assert all(abs(step - step_ns / 1e9) < 1e-4 for step in steps), steps
    assert len({p.month for p in parsed}) >= 2 and len({p.second for p in parsed}) > 30

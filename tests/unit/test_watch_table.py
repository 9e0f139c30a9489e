"""The watch table from the messages a device publishes."""

from __future__ import annotations

import json

from edgeeye.publish.stats import Latency, PipelineCounts, PublisherCounts, Stats
from edgeeye.tools.watch import DeviceView, NotUnderstoodTally, render_table
from edgeeye.tools.watch_messages import NotUnderstood, Reading, parse_message


def _apply(view: DeviceView, tally: NotUnderstoodTally, topic: str, payload: bytes) -> None:
    reading = parse_message(topic, payload)
    if isinstance(reading, Reading):
        view.apply(reading)
    else:
        tally.add(reading)


def test_the_table_shows_status_label_fps_latency_drops_restarts_and_age():
    view, tally = DeviceView(), NotUnderstoodTally()
    _apply(view, tally, "edgeeye/cam1/status", b"online")
    result = {"labels": [{"index": 89, "label": "macaw", "score": 0.9961}]}
    _apply(view, tally, "edgeeye/cam1/result", json.dumps(result).encode())
    stats = Stats.build(
        "cam1",
        "4242-beef",
        60.0,
        PipelineCounts(frames_dropped=14, restarts={"worker_exit": 1, "capture": 2}),
        PublisherCounts(29.84, 0, 0, 0, 0, 0, 0, 0),
        Latency(p50=10.0, p95=20.0, p99=38.21, max=40.0),
    )
    _apply(view, tally, "edgeeye/cam1/stats", stats.payload())
    _apply(view, tally, "edgeeye/cam1/stats", b'{"fps": 1.0}')  # not edgeeye's stats: counted
    idle = DeviceView()  # seen only as offline, nothing classified yet
    _apply(idle, tally, "edgeeye/attic/status", b"offline")
    table = render_table({"cam1": view, "attic": idle}, view.last_seen + 3, tally)
    header, attic, cam1, footer = table.splitlines()
    assert header.split() == [
        "device", "status", "label", "score", "present", "fps", "p99", "ms", "dropped",
        "restarts", "seen",
    ]  # fmt: skip
    assert cam1.split() == ["cam1", "online", "macaw", "1.00", "-", "29.8", "38.2", "14", "3",
                            "3", "s", "ago"]  # fmt: skip
    assert attic.split()[:3] == ["attic", "offline", "-"]
    assert footer == (
        "1 message not understood; the last, cam1/stats: not this edgeeye's stats: device"
    )


def test_a_result_nothing_passed_min_score_in_shows_no_label():
    reading = parse_message("edgeeye/cam1/result", b'{"labels": []}')
    assert reading == Reading("cam1", "result", {"labels": []}, label="", score=None)


def test_what_each_broken_result_is_called():
    def reason(payload: bytes) -> str:
        reading = parse_message("edgeeye/cam1/result", payload)
        assert isinstance(reading, NotUnderstood) and reading.device == "cam1"
        return reading.reason

    assert reason(b'{"labels": [{"score": 0.5}]}') == "labels[0] has no 'label'"
    assert reason(b'{"labels": [{"label": 7, "score": 0.5}]}') == (
        "labels[0].label is int, not a string"
    )
    assert reason(b'{"labels": [{"label": "x", "score": true}]}') == (
        "labels[0].score is bool, not a number"
    )
    assert reason(b'{"labels": [{"label": "x", "score": NaN}]}') == (
        "not JSON: NaN is not a finite number"
    )
    assert reason(b'{"labels": "macaw"}') == "'labels' is str, not a list"
    assert reason(b"[1]") == "a result that is list, not an object"
    assert reason(b"\xff\xfe") == "not UTF-8 (byte 0)"
    assert reason(b"[" * 60_000) == "JSON nested deeper than 32 levels"  # json.loads recursed
    assert reason(b"[" * 40 + b"]" * 40) == "JSON nested deeper than 32 levels"
    assert reason(b"x" * (1 << 20)) == "1048576 bytes, over the 64 KiB read"
    assert reason(b"1" * 30) == "not JSON: an integer of 30 digits"


def test_a_detectors_result_shows_what_it_found_and_how_many():
    document = {
        "labels": [{"index": 0, "label": "person", "score": 0.71}, {"label": "tie", "score": 0.66}],
        "detections": [],  # not read: counts say it
        "counts": {"person": 2, "tie": 1},
    }
    reading = parse_message("edgeeye/door/result", json.dumps(document).encode())
    assert isinstance(reading, Reading) and (reading.label, reading.score) == (
        "person x2 tie",
        0.71,
    )
    view, tally = DeviceView(), NotUnderstoodTally()
    view.apply(reading)
    row = render_table({"door": view}, view.last_seen, tally).splitlines()[1]
    assert row.split()[:5] == ["door", "?", "person", "x2", "tie"]  # no status seen yet


def test_presence_shows_which_entries_are_on():
    view, tally = DeviceView(), NotUnderstoodTally()
    for key, state in (("door_person", "on"), ("sofa_cat", "on"), ("sofa_cat", "off")):
        payload = json.dumps({"state": state, "label": key}).encode()
        _apply(view, tally, f"edgeeye/door/presence/{key}", payload)
    _apply(view, tally, "edgeeye/door/presence/x", b'{"state": "maybe"}')
    row = render_table({"door": view}, view.last_seen, tally).splitlines()[1]
    assert row.split()[:4] == ["door", "?", "-", "door_person"]  # no label, no score yet
    assert tally.count == 1


def test_broken_counts_are_not_understood():
    top = '"labels": [{"label": "cat", "score": 0.7}]'
    for counts, reason in (
        ('"counts": [1]', "'counts' is list, not an object"),
        ('"counts": {"cat": "1"}', "counts['cat'] is str"),
        ('"counts": {"cat": true}', "counts['cat'] is bool"),
    ):
        reading = parse_message("edgeeye/door/result", f"{{{top}, {counts}}}".encode())
        assert isinstance(reading, NotUnderstood) and reading.reason == reason

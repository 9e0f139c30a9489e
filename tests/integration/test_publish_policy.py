"""The publish policy on the real appliance: scripted scenes of real photographs in, the
messages a real broker delivered out."""

from __future__ import annotations

import itertools
import json

from tests.support.appliance import run_to_end
from tests.support.configs import photo_config, photo_sequence
from tests.support.paths import EXPECTED_TOP1
from tests.support.schemas import assert_matches_schema

# cat x3, parrot x3, grace hopper x2, cat x2: three label changes after the first state
SCENE = [
    "cat.bmp",
    "cat_720p.jpg",
    "cat.bmp",
    "parrot.jpg",
    "parrot.jpg",
    "parrot.jpg",
    "grace_hopper.bmp",
    "grace_hopper.bmp",
    "cat_1080p.jpg",
    "cat.bmp",
]


def _top1(result: dict) -> str | None:
    return result["labels"][0]["label"] if result["labels"] else None


def _final_stats(subscriber) -> dict:
    return subscriber.json_on("/stats")[-1]


def _scene_run(tmp_path, broker, test_data, subscriber_factory, appliance_factory, publish):
    scene = photo_sequence(tmp_path / "scene", test_data, SCENE)
    source = f"{{type: images, path: {scene}, loop: false}}"
    config = photo_config(tmp_path, broker.port, test_data, source, f"publish: {publish}")
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, config, subscriber)
    return subscriber


def test_on_change_publishes_exactly_the_label_changes(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = _scene_run(
        tmp_path,
        broker,
        test_data,
        subscriber_factory,
        appliance_factory,
        "{mode: on_change, hold_s: 0, heartbeat_s: 0}",
    )
    results = subscriber.json_on("/result")
    assert [_top1(r) for r in results] == [
        "Egyptian cat",
        "macaw",
        "military uniform",
        "Egyptian cat",
    ]
    assert {r["reason"] for r in results} == {"change"}
    # Each is the photograph of its state, not a late frame of the previous one.
    assert [EXPECTED_TOP1[r["source"].split("_", 1)[1]] for r in results] == [
        _top1(r) for r in results
    ]
    stats = _final_stats(subscriber)
    assert stats["frames_classified"] == len(SCENE)
    assert stats["results_published"] == 4 and stats["results_suppressed"] == len(SCENE) - 4
    for message in subscriber.received:
        assert_matches_schema(message.topic.rsplit("/", 1)[1], message.payload)


def test_every_frame_publishes_each_frame_and_marks_the_changes(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = _scene_run(
        tmp_path,
        broker,
        test_data,
        subscriber_factory,
        appliance_factory,
        "{mode: every_frame, hold_s: 0}",
    )
    results = sorted(subscriber.json_on("/result"), key=lambda r: r["sequence"])
    assert [_top1(r) for r in results] == [EXPECTED_TOP1[name] for name in SCENE]
    assert sum(r["reason"] == "change" for r in results) >= 4


def test_hold_time_limits_flicker_between_two_labels(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    # cat and parrot alternating every frame, 10 a second, for 3 s, with a 1 s hold
    flicker = photo_sequence(tmp_path / "flicker", test_data, ["cat.bmp", "parrot.jpg"] * 15)
    source = f"{{type: images, path: {flicker}, loop: false, fps: 10}}"
    publish = "publish: {mode: on_change, hold_s: 1.0, heartbeat_s: 0}"
    config = photo_config(tmp_path, broker.port, test_data, source, publish)
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, config, subscriber)
    labels = [_top1(r) for r in subscriber.json_on("/result")]
    # Without the hold this would be 30 messages; with it, about one a second.
    assert 2 <= len(labels) <= 5, labels
    assert all(a != b for a, b in itertools.pairwise(labels)), labels
    assert set(labels) <= {"Egyptian cat", "macaw"}
    assert _final_stats(subscriber)["results_suppressed"] == 30 - len(labels)


def test_max_rate_caps_every_frame_and_the_rest_is_counted(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    source = f"{{type: images, path: {test_data}/images/cat.bmp, loop: true, fps: 20}}"
    config = photo_config(tmp_path, broker.port, test_data, source, "publish: {max_rate: 2}")
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, config, subscriber, "--duration", "3")
    stats = _final_stats(subscriber)
    published = len(subscriber.json_on("/result"))
    assert published == stats["results_published"]
    # 3 s at no more than 2 a second (plus the first one), out of about 60 frames
    assert 2 <= published <= 8 and stats["frames_classified"] >= 20
    assert published + stats["results_suppressed"] == stats["frames_classified"]


def test_heartbeat_repeats_an_unchanged_state(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    source = f"{{type: images, path: {test_data}/images/parrot.jpg, loop: true, fps: 10}}"
    publish = "publish: {mode: on_change, heartbeat_s: 1}"
    config = photo_config(tmp_path, broker.port, test_data, source, publish)
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, config, subscriber, "--duration", "3.6")
    results = subscriber.json_on("/result")
    assert [r["reason"] for r in results][:1] == ["change"]
    assert 2 <= sum(r["reason"] == "heartbeat" for r in results) <= 4
    assert {_top1(r) for r in results} == {"macaw"}
    sequences = [r["sequence"] for r in results]
    assert sequences == sorted(set(sequences))  # each heartbeat carries a fresher frame


def test_label_filters_keep_and_drop_labels(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    source = f"{{type: images, path: {test_data}/images, loop: false}}"
    extra = "publish: {include: [macaw, military uniform], exclude: [military uniform]}"
    config = photo_config(tmp_path, broker.port, test_data, source, extra)
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, config, subscriber)
    labels = {r["source"]: [x["label"] for x in r["labels"]] for r in subscriber.json_on("/result")}
    assert labels == {
        "cat.bmp": [],
        "cat_720p.jpg": [],
        "cat_1080p.jpg": [],
        "grace_hopper.bmp": [],
        "parrot.jpg": ["macaw"],
    }
    settings = json.loads(subscriber.on("/settings")[0].payload)
    assert settings["publish"]["include"] == ["macaw", "military uniform"]

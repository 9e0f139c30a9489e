"""Snapshots on the real appliance: one JPEG per label change, of the configured size,
tied to the result it belongs to."""

from __future__ import annotations

import io
import json

import numpy as np
import paho.mqtt.client as mqtt
from PIL import Image

from tests.support.appliance import run_to_end
from tests.support.configs import photo_config, photo_sequence
from tests.support.schemas import assert_matches_schema

SCENE = ["cat.bmp", "cat.bmp", "parrot.jpg", "parrot.jpg", "grace_hopper.bmp", "cat.bmp"]


def test_each_change_brings_a_jpeg_of_the_configured_size(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    scene = photo_sequence(tmp_path / "scene", test_data, SCENE)
    source = f"{{type: images, path: {scene}, loop: false, fps: 5}}"
    extra = """
publish: {mode: on_change, hold_s: 0, heartbeat_s: 0}
snapshot: {enabled: true, width: 160, height: 120, quality: 70}
"""
    config = photo_config(tmp_path, broker.port, test_data, source, extra, mqtt="protocol: 5")
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#", protocol=mqtt.MQTTv5)
    run_to_end(appliance_factory, config, subscriber)

    changes = [json.loads(m.payload) for m in subscriber.on("/result")]
    snapshots = subscriber.on("/snapshot")
    assert [c["labels"][0]["label"] for c in changes] == [
        "Egyptian cat",
        "macaw",
        "military uniform",
        "Egyptian cat",
    ]
    assert len(snapshots) == len(changes)
    by_sequence = {c["sequence"]: c for c in changes}
    pictures = {}
    for message in snapshots:
        assert_matches_schema("snapshot", message.payload)
        image = Image.open(io.BytesIO(message.payload))
        assert (image.format, image.size, image.mode) == ("JPEG", (160, 120), "RGB")
        assert message.retain is False and message.properties.ContentType == "image/jpeg"
        user = dict(message.properties.UserProperty)
        change = by_sequence[int(user["sequence"])]  # the result it belongs to
        assert user["label"] == change["labels"][0]["label"]
        pictures[change["source"]] = np.asarray(image, dtype=np.float32)
    # The pictures are the photographs: the two of the cat agree, the parrot differs.
    cats = [p for name, p in pictures.items() if name.endswith("cat.bmp")]
    parrot = next(p for name, p in pictures.items() if name.endswith("parrot.jpg"))
    assert np.abs(cats[0] - cats[1]).mean() < 3 < np.abs(cats[0] - parrot).mean()
    stats = json.loads(subscriber.on("/stats")[-1].payload)
    assert (stats["snapshots_published"], stats["snapshots_skipped"]) == (4, 0)


def test_retained_snapshot_reaches_a_later_subscriber_and_off_means_none(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    source = f"{{type: images, path: {test_data}/images, loop: false}}"
    extra = "snapshot: {enabled: true, retain: true, quality: 50}"
    config = photo_config(tmp_path, broker.port, test_data, source, extra)
    live = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, config, live)
    assert live.on("/snapshot"), "no snapshot published"
    later = subscriber_factory(broker, "edgeeye/cam1/snapshot")
    retained = later.collect(lambda r: len(r) >= 1, 5)
    assert len(retained) == 1 and retained[0].retain
    # Default size: the model's input, 224 x 224.
    assert Image.open(io.BytesIO(retained[0].payload)).size == (224, 224)

    (tmp_path / "off").mkdir()
    off = photo_config(tmp_path / "off", broker.port, test_data, source)
    quiet = subscriber_factory(broker, "edgeeye/cam1/#")
    run_to_end(appliance_factory, off, quiet)
    assert len(quiet.on("/result")) == 5
    assert [m for m in quiet.on("/snapshot") if not m.retain] == []

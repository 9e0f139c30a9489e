"""Pictures as the model's authors meant them (issue 16, item 4): for every photograph in the
test data, the real appliance's top-1 through a real broker equals, with its score within
0.05, a reference computed here with Pillow's antialiased bilinear resize of the whole frame
(what TensorFlow's and Coral's classification examples do)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from edgeeye.inference.classifier import Classifier
from edgeeye.inference.model import inspect_model
from edgeeye.sources.images import IMAGE_SUFFIXES
from tests.support.configs import photo_config

TOLERANCE = 0.05


def _reference(test_data) -> dict[str, tuple[str, float]]:
    models = test_data / "models"
    spec = inspect_model(
        models / "mobilenet_v2_1.0_224_quant.tflite", models / "imagenet_labels.txt"
    )
    classifier = Classifier(spec)
    reference = {}
    for photo in sorted((test_data / "images").iterdir()):
        if photo.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        picture = Image.open(photo).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
        (_, label, score), *_ = classifier.classify(np.asarray(picture), 1, 0.0)[0]
        reference[photo.name] = (label, score)
    return reference


def test_every_photograph_gets_the_reference_top1_and_score(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    reference = _reference(test_data)
    assert len(reference) >= 5
    source = f"{{type: images, path: {test_data / 'images'}, loop: false}}"
    subscriber = subscriber_factory(broker)
    appliance = appliance_factory(photo_config(tmp_path, broker.port, test_data, source))
    assert appliance.wait(60) == 0, appliance.stderr
    received = subscriber.collect(
        lambda r: any(m.topic == "edgeeye/cam1/status" and m.payload == b"offline" for m in r), 10
    )
    results = {
        r["source"]: r["labels"][0]
        for r in (json.loads(m.payload) for m in received if m.topic == "edgeeye/cam1/result")
    }
    print("\nphotograph          reference top-1 (score)        edgeeye top-1 (score)")
    for photo, (label, score) in reference.items():
        got = results.get(photo, {"label": "-", "score": float("nan")})
        print(f"{photo:<19} {label:<22} {score:.3f}   {got['label']:<22} {got['score']:.3f}")
    assert set(results) == set(reference)
    for photo, (label, score) in reference.items():
        assert results[photo]["label"] == label, photo
        assert abs(results[photo]["score"] - score) <= TOLERANCE, (photo, results[photo], score)

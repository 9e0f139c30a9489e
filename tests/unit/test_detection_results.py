"""A detector's results through the publish policy and into the result document (issue
17, item 1): per-label score floors, the label filters applied to detections, the labels
and counts a result carries, and the document's schema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from edgeeye.config.app import AppConfig
from edgeeye.config.sections import ModelConfig, PublishConfig
from edgeeye.inference.results import Detection, Task, labels_of
from edgeeye.pipeline.messages import Result
from edgeeye.publish.payloads import result_payload
from edgeeye.publish.policy import LiveSettings, PublishPolicy, State
from tests.support.schemas import assert_matches_schema

PERSON = Detection(0, "person", 0.71, (0.0, 0.05, 1.0, 0.98))
TIE = Detection(31, "tie", 0.66, (0.44, 0.71, 0.56, 0.89))
FAINT_PERSON = Detection(0, "person", 0.52, (0.02, 0.01, 0.25, 0.68))
NOISE = Detection(61, "chair", 0.12, (0.5, 0.5, 0.6, 0.6))
FRAME = (PERSON, TIE, FAINT_PERSON, NOISE)


def _result(*detections: Detection, sequence: int = 7) -> Result:
    return Result(
        sequence, 0, 0, labels_of(detections), 15.0, 0, task=Task.DETECT, detections=detections
    )


def _sent(settings: LiveSettings, *detections: Detection):
    outgoing = PublishPolicy(settings).offer(_result(*detections), 0.0)
    assert outgoing is not None
    return outgoing


def test_a_detector_defaults_to_a_floor_of_half_and_a_classifier_to_none():
    config = AppConfig()
    assert LiveSettings.from_config(config, Task.DETECT).min_score == 0.5
    assert LiveSettings.from_config(config, Task.CLASSIFY).min_score == 0.0
    chosen = AppConfig(model=ModelConfig(min_score=0.3))
    assert LiveSettings.from_config(chosen, Task.DETECT).min_score == 0.3


def test_detections_below_their_labels_floor_are_left_out():
    settings = LiveSettings(0.5, PublishConfig(), False, {"person": 0.6})
    outgoing = _sent(settings, *FRAME)
    assert outgoing.detections == (PERSON, TIE)
    assert outgoing.labels == [(0, "person", 0.71), (31, "tie", 0.66)]
    assert outgoing.state == State("person")
    stricter = LiveSettings(0.5, PublishConfig(), False, {"person": 0.8})
    assert _sent(stricter, *FRAME).detections == (TIE,)
    assert _sent(stricter, *FRAME).state == State("tie")


def test_include_and_exclude_apply_to_detections():
    only_ties = LiveSettings(0.5, PublishConfig(include=("tie",)), False)
    assert _sent(only_ties, *FRAME).detections == (TIE,)
    no_ties = LiveSettings(0.5, PublishConfig(exclude=("tie",)), False)
    assert _sent(no_ties, *FRAME).detections == (PERSON, FAINT_PERSON)
    nothing = _sent(LiveSettings(0.9, PublishConfig(), False), *FRAME)
    assert (nothing.detections, nothing.labels, nothing.state) == ((), [], State(None))


def test_the_document_carries_boxes_labels_and_counts():
    settings = LiveSettings(0.5, PublishConfig(), False)
    outgoing = _sent(settings, *FRAME)
    result = outgoing.result
    payload = result_payload(
        result, "cam1", "ssd", 3.0, "hopper.bmp", outgoing.labels, "change", outgoing.detections
    )
    assert_matches_schema("result", payload)
    document = json.loads(payload)
    assert document["counts"] == {"person": 2, "tie": 1}
    assert [d["label"] for d in document["detections"]] == ["person", "tie", "person"]
    assert document["detections"][0] == {
        "index": 0,
        "label": "person",
        "score": 0.71,
        "box": [0.0, 0.05, 1.0, 0.98],
    }
    assert [label["label"] for label in document["labels"]] == ["person", "tie"]


def test_a_classifiers_document_has_no_detection_fields():
    result = Result(3, 0, 0, [(286, "Egyptian cat", 0.8)], 4.0, 1)
    document = json.loads(result_payload(result, "cam1", "mobilenet", 1.0, None))
    assert "detections" not in document and "counts" not in document


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"person": 1.5}, "less than or equal to 1"),
        ({"person": -0.1}, "greater than or equal to 0"),
        ({"per\nson": 0.5}, "control characters"),
        ({"": 0.5}, "at least 1 character"),
    ],
)
def test_a_bad_per_label_floor_is_refused(entry, error):
    with pytest.raises(ValidationError, match=error):
        ModelConfig(min_score_per_label=entry)


def test_the_task_is_one_of_three():
    assert ModelConfig(task="detect").task == "detect"
    with pytest.raises(ValidationError, match="'auto', 'classify' or 'detect'"):
        ModelConfig(task="segment")

"""Detection models (issue 17, item 1): the SSD detector's four outputs told apart by
metadata names, tensor names, or shapes and values, whatever their order; boxes in
fractions of the frame as captured.  Every model is the real detector from the test data
or made from it here (tests/support/tflite_edit.py); every result comes from the real
interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeeye.errors import ModelError
from edgeeye.inference.detection_outputs import decide_classes, find_detection_outputs
from edgeeye.inference.interpreter import load_interpreter
from edgeeye.inference.model import ModelSpec, inspect_model
from edgeeye.inference.preprocess import to_model_rgb
from edgeeye.inference.results import Task
from edgeeye.inference.runner import open_model
from edgeeye.sources.frame import PixelFormat

DETECTOR = "ssd_mobilenet_v1_coco_quant.tflite"
#: TF2's order of the four outputs, as positions in TF1's (boxes, classes, scores, count).
TF2_ORDER = [2, 0, 3, 1]
UNNAMED = [f"StatefulPartitionedCall:{i}" for i in range(4)]


@pytest.fixture
def edit():
    from tests.support import tflite_edit

    return tflite_edit


@pytest.fixture
def detector(test_data) -> Path:
    return test_data / "models" / DETECTOR


@pytest.fixture
def coco(test_data) -> Path:
    return test_data / "models" / "coco_labels.txt"


def _detections(spec: ModelSpec, frame: np.ndarray, floor: float = 0.5) -> list[tuple]:
    rgb = to_model_rgb(frame, PixelFormat.RGB888, *frame.shape[:2], spec.input_size)
    found = open_model(spec).infer(rgb, 3).detections
    return [(d.label, d.score, d.box) for d in found if d.score >= floor]


def _photo(test_data, name: str) -> np.ndarray:
    return np.asarray(Image.open(test_data / "images" / name).convert("RGB"))


def _tf2_copy(edit, detector: Path, folder: Path, names: list[str] | None = None) -> Path:
    model = edit.permute_outputs(edit.load(detector), TF2_ORDER)
    if names is not None:
        model = edit.rename_outputs(model, names)
    return edit.save(model, folder / "tf2_order.tflite")


def test_the_tf1_detector_is_recognised_by_its_tensor_names(detector, coco, test_data):
    spec = inspect_model(detector, coco)
    assert spec.task is Task.DETECT and len(spec.labels) == 90
    roles = spec.detection_outputs
    assert roles is not None and roles.found_by == "tensor names"
    assert (roles.boxes, roles.classes, roles.scores, roles.count) == (0, 1, 2, 3)
    hopper = _detections(spec, _photo(test_data, "grace_hopper.bmp"))
    person = next(box for label, _, box in hopper if label == "person")
    # A box over the centre, clamped to the frame (the model's reaches -0.01 and 1.01).
    assert person[0] <= 0.5 <= person[2] and person[1] <= 0.5 <= person[3]
    assert all(0.0 <= v <= 1.0 for _, _, box in hopper for v in box)
    assert "tie" in {label for label, _, _ in hopper}
    (cat,) = _detections(spec, _photo(test_data, "cat.bmp"))
    assert cat[0] == "cat" and cat[1] >= 0.6
    assert np.allclose(cat[2], (0.09, 0.13, 0.70, 0.98), atol=0.03)


def test_tf2_output_order_gives_the_same_detections(edit, detector, coco, test_data, tmp_path):
    original = inspect_model(detector, coco)
    reordered = inspect_model(_tf2_copy(edit, detector, tmp_path), coco)
    roles = reordered.detection_outputs
    assert roles is not None and roles.found_by == "tensor names"
    assert (roles.scores, roles.boxes, roles.count, roles.classes) == (0, 1, 2, 3)
    for name in ("grace_hopper.bmp", "cat_720p.jpg", "parrot.jpg"):
        photo = _photo(test_data, name)
        assert _detections(reordered, photo) == _detections(original, photo), name


def test_without_telling_names_shapes_and_class_values_decide(
    edit, detector, coco, test_data, tmp_path
):
    spec = inspect_model(_tf2_copy(edit, detector, tmp_path, UNNAMED), coco)
    roles = spec.detection_outputs
    assert roles is not None and roles.found_by == "shapes and values"
    assert (roles.scores, roles.boxes, roles.count, roles.classes) == (0, 1, 2, 3)
    photo = _photo(test_data, "parrot.jpg")
    assert _detections(spec, photo) == _detections(inspect_model(detector, coco), photo)
    assert _detections(spec, photo)[0][0] == "bird"


def test_metadata_names_come_first_and_may_carry_the_labels(
    edit, detector, coco, test_data, tmp_path
):
    model = edit.permute_outputs(edit.load(detector), TF2_ORDER)
    # Tensor names that would mislead: metadata names must win over them.
    model = edit.rename_outputs(model, ["boxes", "scores", "classes", "num"])
    writer_names = ("score", "location", "number of detections", "category")
    blob = edit.metadata_blob(None, None, "coco.txt", outputs=writer_names, labels_on=3)
    path = edit.save(
        edit.set_metadata(model, blob), tmp_path / "named.tflite", {"coco.txt": coco.read_bytes()}
    )
    spec = inspect_model(path, None)
    roles = spec.detection_outputs
    assert roles is not None and roles.found_by == "metadata names"
    assert (roles.scores, roles.boxes, roles.count, roles.classes) == (0, 1, 2, 3)
    assert spec.labels_origin == f"{path}:coco.txt" and spec.labels[0] == "person"
    assert _detections(spec, _photo(test_data, "cat.bmp"))[0][0] == "cat"


def test_names_that_contradict_the_shapes_are_not_believed(edit, detector, coco, tmp_path):
    model = edit.rename_outputs(edit.load(detector), ["scores", "classes", "boxes", "num"])
    spec = inspect_model(edit.save(model, tmp_path / "misnamed.tflite"), coco)
    roles = spec.detection_outputs
    assert roles is not None and roles.found_by == "shapes and values"
    assert (roles.boxes, roles.classes, roles.scores, roles.count) == (0, 1, 2, 3)


def test_two_outputs_that_look_alike_are_refused_naming_the_model(detector):
    interpreter = load_interpreter(detector)
    layout = find_detection_outputs.__globals__["_layout"](interpreter.get_output_details())
    whole = np.array([17.0, 0.0, 62.0])
    with pytest.raises(ModelError, match=rf"^model {detector}: .*both look like class ids"):
        decide_classes(detector, whole, whole.copy(), layout)
    with pytest.raises(ModelError, match=rf"^model {detector}: .*found nothing"):
        decide_classes(detector, np.array([]), np.array([]), layout)
    scores = np.array([0.7, 0.2, 0.1])
    assert decide_classes(detector, scores, whole, layout) == (2, 1)


def test_a_task_the_model_cannot_do_is_refused_naming_it(detector, coco, test_data, tmp_path):
    classifier = test_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    imagenet = test_data / "models" / "imagenet_labels.txt"
    with pytest.raises(ModelError, match=rf"^model {classifier}: outputs \[1, 1001\] are not a"):
        inspect_model(classifier, imagenet, task="detect")
    with pytest.raises(ModelError, match=rf"^model {detector}: outputs \[1, 10, 4\], "):
        inspect_model(detector, coco, task="classify")
    assert inspect_model(classifier, imagenet).task is Task.CLASSIFY


def test_a_detector_missing_an_output_is_refused_naming_it(edit, detector, coco, tmp_path):
    three = edit.save(edit.permute_outputs(edit.load(detector), [0, 1, 2]), tmp_path / "3.tflite")
    with pytest.raises(ModelError, match=rf"^model {three}: outputs \[1, 10, 4\], \[1, 10\], \["):
        inspect_model(three, coco)


def test_boxes_are_fractions_of_the_frame_as_captured(detector, coco, test_data):
    """The cat photograph in the top-left quarter of a frame twice its size (a 1024x682
    frame, the model's input 300x300): the same box, halved."""
    spec = inspect_model(detector, coco)
    cat = _photo(test_data, "cat.bmp")
    height, width = cat.shape[:2]
    frame = np.full((height * 2, width * 2, 3), 128, np.uint8)
    frame[:height, :width] = cat
    (alone,) = _detections(spec, cat)
    cats = [found for found in _detections(spec, frame, 0.3) if found[0] == "cat"]
    assert cats, _detections(spec, frame, 0.1)
    box = np.array(cats[0][2])
    assert box.max() <= 0.55, box  # within the quarter the cat is in
    # A smaller cat is boxed a little less tightly by the model: close, not equal.
    assert np.allclose(box * 2, alone[2], atol=0.08), (cats[0], alone)

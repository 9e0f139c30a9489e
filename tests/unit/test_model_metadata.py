"""Model metadata and input types (issue 16, item 5): labels packed in the model, the
normalisation its metadata gives for a float input, and a quantized input's own scale and
zero point.  Every model is the real one from the test data, or made from it here
(tests/support/tflite_edit.py); every result comes from the real interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeeye.config.app import load_config
from edgeeye.errors import ModelError
from edgeeye.inference.classifier import Classifier
from edgeeye.inference.interpreter import load_interpreter
from edgeeye.inference.metadata import Normalization, read_metadata
from edgeeye.inference.model import inspect_model, load_labels

MODEL = "mobilenet_v2_1.0_224_quant.tflite"


@pytest.fixture
def edit():
    from tests.support import tflite_edit

    return tflite_edit


def _picture(test_data, name: str = "cat.bmp") -> np.ndarray:
    image = Image.open(test_data / "images" / name).convert("RGB")
    return np.asarray(image.resize((224, 224), Image.Resampling.BILINEAR))


def _scores(spec, picture) -> dict[str, float]:
    return {label: score for _, label, score in Classifier(spec).classify(picture, 2, 0.0)[0]}


def _fed_directly(path, tensor: np.ndarray) -> float:
    """Egyptian cat's score with ``tensor`` given to the real interpreter as it is."""
    interpreter = load_interpreter(path, 1)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], tensor.reshape(detail["shape"]))
    interpreter.invoke()
    output = interpreter.get_output_details()[0]
    scale, zero = output["quantization"]
    return (float(interpreter.get_tensor(output["index"]).reshape(-1)[286]) - zero) * scale


def test_the_test_models_carry_their_labels_and_normalisation(test_data):
    birds = "mobilenet_v2_1.0_224_inat_bird_quant.tflite"
    for name, labels in ((MODEL, "imagenet_labels.txt"), (birds, "inat_bird_labels.txt")):
        path = test_data / "models" / name
        metadata = read_metadata(path, path.read_bytes())
        assert metadata is not None and metadata.labels_file == labels
        assert metadata.normalization == Normalization(mean=(127.5,), std=(127.5,))
        assert (metadata.input_names, metadata.output_names) == (("image",), ("probability",))
    detector = test_data / "models" / "ssd_mobilenet_v1_coco_quant.tflite"
    assert read_metadata(detector, detector.read_bytes()) is None


def test_without_a_labels_file_the_labels_packed_in_the_model_are_used(test_data, tmp_path):
    path = test_data / "models" / MODEL
    spec = inspect_model(path, None)
    assert spec.labels == load_labels(test_data / "models" / "imagenet_labels.txt")
    assert spec.labels_origin == f"{path}:imagenet_labels.txt"
    assert Classifier(spec).classify(_picture(test_data, "parrot.jpg"), 1, 0.0)[0][0][1] == "macaw"
    # And the config accepts a model file alone.
    config = tmp_path / "edgeeye.yaml"
    config.write_text(f"model: {{path: {path}}}\n")
    assert load_config(config).model.labels is None


def test_a_model_holding_no_labels_needs_a_labels_file_and_says_so(test_data, tmp_path, edit):
    source = test_data / "models" / MODEL
    bare = edit.save(edit.without_metadata(edit.load(source)), tmp_path / "bare.tflite")
    with pytest.raises(ModelError) as refused:
        inspect_model(bare, None)
    assert str(refused.value) == (
        f"model {bare}: holds no labels in its metadata; set model.labels to its labels file"
    )
    # Metadata naming a labels file the model does not hold (written again without its zip).
    flat = edit.save(edit.load(source), tmp_path / "flat.tflite")
    with pytest.raises(ModelError, match=r"flat\.tflite: cannot read imagenet_labels\.txt"):
        inspect_model(flat, None)


def test_a_float_input_is_normalised_as_its_metadata_says(test_data, tmp_path, edit):
    source = test_data / "models" / MODEL
    labels = test_data / "models" / "imagenet_labels.txt"
    picture = _picture(test_data)
    reference = _scores(inspect_model(source, labels), picture)["Egyptian cat"]

    def float_model(name: str, mean: list[float] | None, std: list[float] | None):
        model = edit.with_input(edit.load(source), "float32")
        if mean is None:
            model = edit.without_metadata(model)
        else:
            model = edit.set_metadata(model, edit.metadata_blob(mean, std, None))
        return inspect_model(edit.save(model, tmp_path / name), labels)

    minus_one_to_one = float_model("a.tflite", [127.5], [127.5])
    silent = float_model("b.tflite", None, None)  # no metadata: [-1, 1]
    zero_to_one = float_model("c.tflite", [0.0], [255.0])
    assert minus_one_to_one.input_dtype == "float32"
    for spec in (minus_one_to_one, silent):
        assert abs(_scores(spec, picture)["Egyptian cat"] - reference) <= 0.05
    # A model that says [0, 1] gets [0, 1]: exactly what the interpreter gives for it.
    expected = _fed_directly(zero_to_one.path, picture.astype(np.float32) / 255)
    got = _scores(zero_to_one, picture)["Egyptian cat"]
    assert abs(got - expected) < 0.005 and abs(got - reference) > 0.05


def test_an_int8_input_uses_its_own_scale_and_zero_point(test_data, tmp_path, edit):
    source = test_data / "models" / MODEL
    labels = test_data / "models" / "imagenet_labels.txt"
    picture = _picture(test_data)
    reference = _scores(inspect_model(source, labels), picture)["Egyptian cat"]
    # Scale 1/100: pixel - 128 (the usual int8 shift) would give 1.28 times the contrast.
    model = edit.with_input(edit.load(source), "int8", 1 / 100, 0)
    model = edit.set_metadata(model, edit.metadata_blob([127.5], [127.5], None))
    spec = inspect_model(edit.save(model, tmp_path / "int8.tflite"), labels)
    assert spec.input_dtype == "int8" and spec.input_quantization == pytest.approx((0.01, 0))
    assert abs(_scores(spec, picture)["Egyptian cat"] - reference) <= 0.05
    shifted = (picture.astype(np.int16) - 128).astype(np.int8)
    assert abs(_fed_directly(spec.path, shifted) - reference) > 0.05


def test_damaged_metadata_is_one_line_naming_the_model(test_data, tmp_path, edit):
    model = edit.set_metadata(edit.load(test_data / "models" / MODEL), b"\x10\x00\x00\x00M001")
    damaged = edit.save(model, tmp_path / "damaged.tflite")
    with pytest.raises(ModelError) as refused:
        inspect_model(damaged, test_data / "models" / "imagenet_labels.txt")
    assert str(refused.value).startswith(f"model {damaged}: its TFLite metadata is damaged: ")
    assert "\n" not in str(refused.value)

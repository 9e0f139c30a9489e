"""Labels, model inspection, the interpreter choice, preprocessing: on the real models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeeye.errors import ModelError
from edgeeye.inference.classifier import Classifier
from edgeeye.inference.interpreter import RUNTIMES, interpreter_class
from edgeeye.inference.model import inspect_model, load_labels
from edgeeye.inference.preprocess import resize_bilinear, to_model_rgb, yuv420_to_rgb
from edgeeye.sources.frame import PixelFormat
from tests.support.paths import EXPECTED_TOP1


def test_plain_and_numbered_label_files(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("background\ncat\n\ndog\n\n")
    assert load_labels(plain) == ("background", "cat", "", "dog")
    numbered = tmp_path / "numbered.txt"
    numbered.write_text("0 background\n1: cat\n3  dog\n")
    assert load_labels(numbered) == ("background", "cat", "2", "dog")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(ModelError, match=r"labels .*empty.txt: the file is empty"):
        load_labels(empty)


def test_real_label_files_have_the_documented_counts(test_data):
    assert len(load_labels(test_data / "models" / "imagenet_labels.txt")) == 1001
    birds = load_labels(test_data / "models" / "inat_bird_labels.txt")
    assert len(birds) == 965 and birds[964] == "background"


def test_interpreter_prefers_litert_and_falls_back():
    cls, distribution = interpreter_class()
    assert distribution == RUNTIMES[0][1] == "ai-edge-litert"
    assert cls.__module__.startswith("ai_edge_litert")
    # tflite-runtime's place taken by a module that is missing: the next one is chosen
    fallback = (("tflite_runtime_absent.interpreter", "tflite-runtime"), RUNTIMES[0])
    assert interpreter_class(fallback)[1] == "ai-edge-litert"
    with pytest.raises(ModelError, match=r"no TFLite interpreter is installed .*tflite-runtime"):
        interpreter_class(
            (("absent_a.interpreter", "a"), ("absent_b.interpreter", "tflite-runtime"))
        )


def test_inspect_reports_input_size_and_labels(test_data):
    models = test_data / "models"
    spec = inspect_model(
        models / "mobilenet_v1_0.25_128_quant.tflite", models / "imagenet_labels.txt"
    )
    assert spec.input_size == (128, 128) and spec.input_dtype == "uint8"
    assert spec.name == "mobilenet_v1_0.25_128_quant" and len(spec.labels) == 1001


def test_labels_count_mismatch_is_rejected(test_data):
    models = test_data / "models"
    with pytest.raises(ModelError, match=r"has 1001 labels but model .*inat_bird.* outputs 965"):
        inspect_model(
            models / "mobilenet_v2_1.0_224_inat_bird_quant.tflite", models / "imagenet_labels.txt"
        )


def test_broken_model_is_rejected_naming_the_file(test_data):
    models = test_data / "models"
    with pytest.raises(ModelError, match=r"model .*model_invoking_error.tflite: cannot load"):
        inspect_model(models / "model_invoking_error.tflite", models / "imagenet_labels.txt")


def test_a_file_that_is_not_a_model_is_rejected(test_data):
    models = test_data / "models"
    with pytest.raises(ModelError, match=r"imagenet_labels.txt: cannot load"):
        inspect_model(models / "imagenet_labels.txt", models / "imagenet_labels.txt")


@pytest.mark.parametrize("image", sorted(EXPECTED_TOP1))
def test_photographs_get_their_documented_top1(test_data, image):
    models = test_data / "models"
    spec = inspect_model(
        models / "mobilenet_v2_1.0_224_quant.tflite", models / "imagenet_labels.txt"
    )
    classifier = Classifier(spec)
    frame = np.asarray(Image.open(test_data / "images" / image).convert("RGB"))
    rgb = to_model_rgb(frame, PixelFormat.RGB888, *frame.shape[:2], spec.input_size)
    labels, inference_ms = classifier.classify(rgb, top_k=3, min_score=0.0)
    assert labels[0][1] == EXPECTED_TOP1[image]
    assert labels[0][2] >= 0.5 and inference_ms > 0
    assert [s for *_, s in labels] == sorted((s for *_, s in labels), reverse=True)
    assert classifier.classify(rgb, top_k=3, min_score=0.99)[0] in ([], labels[:1])


def test_bgr_frames_are_converted_to_rgb():
    rgb = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert (
        to_model_rgb(bgr, PixelFormat.BGR888, 48, 64, (24, 32)) == resize_bilinear(rgb, 24, 32)
    ).all()
    same_size = to_model_rgb(rgb, PixelFormat.RGB888, 48, 64, (48, 64))
    assert (same_size == rgb).all() and same_size is not rgb


def test_bilinear_resize_matches_hand_computed_values():
    image = np.array([[[0] * 3, [100] * 3], [[200] * 3, [255] * 3]], dtype=np.uint8)
    out = resize_bilinear(image, 4, 4)[..., 0]
    assert out[0, 0] == 0 and out[3, 3] == 255
    assert out[0, 1] == 25 and out[1, 0] == 50  # a quarter of the way between neighbours


def test_yuv420_of_a_uniform_colour():
    height, width = 4, 6
    planar = np.empty((height * 3 // 2, width), np.uint8).reshape(-1)
    planar[: height * width] = 81  # BT.601 limited-range red: Y=81, U=90, V=240
    planar[height * width : height * width * 5 // 4] = 90
    planar[height * width * 5 // 4 :] = 240
    rgb = yuv420_to_rgb(planar, height, width)
    assert rgb.shape == (4, 6, 3)
    assert abs(int(rgb[0, 0, 0]) - 255) <= 3 and rgb[0, 0, 1] <= 3 and rgb[0, 0, 2] <= 3

"""What is where (issue 17, item 1): the real appliance, with the real SSD detector, on
real photographs, through a real mosquitto: labels, boxes in fractions of the frame,
per-label score floors, counts, and the same detections from a TF2-ordered copy."""

from __future__ import annotations

from tests.support.appliance import run_to_end
from tests.support.configs import detector_config, photo_sequence
from tests.support.schemas import assert_matches_schema

PHOTOS = ["grace_hopper.bmp", "cat.bmp", "cat_720p.jpg", "parrot.jpg"]


def _results_by_photo(appliance_factory, subscriber, config) -> dict[str, dict]:
    """One pass of the appliance over the photographs: each one's result."""
    run_to_end(appliance_factory, config, subscriber)
    for message in subscriber.on("/result"):
        assert_matches_schema("result", message.payload)
    results = subscriber.json_on("/result")
    assert len(results) == len(PHOTOS), [r.get("source") for r in results]
    return {r["source"].split("_", 1)[1]: r for r in results}


def _scene(tmp_path, test_data) -> str:
    folder = photo_sequence(tmp_path / "scene", test_data, PHOTOS)
    return f"{{type: images, path: {folder}, loop: false}}"


def test_each_photograph_gives_what_is_in_it_and_where(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    config = detector_config(
        tmp_path,
        broker.port,
        test_data,
        _scene(tmp_path, test_data),
        # The tie scores 0.66: its own floor leaves it out, the person (0.71) stays.
        model_entries="  min_score_per_label: {tie: 0.7}",
    )
    results = _results_by_photo(appliance_factory, subscriber_factory(broker), config)
    hopper = results["grace_hopper.bmp"]
    people = [d for d in hopper["detections"] if d["label"] == "person"]
    x_min, y_min, x_max, y_max = max(people, key=lambda d: d["score"])["box"]
    assert x_min <= 0.5 <= x_max and y_min <= 0.5 <= y_max, hopper
    assert (x_max - x_min) * (y_max - y_min) > 0.8  # she fills the picture
    assert "tie" not in hopper["counts"] and hopper["counts"]["person"] == len(people)
    assert hopper["labels"][0]["label"] == "person"
    for cat in ("cat.bmp", "cat_720p.jpg"):
        (found,) = results[cat]["detections"]
        assert (found["label"], found["index"]) == ("cat", 16) and found["score"] >= 0.6
        assert abs(found["box"][0] - 0.09) < 0.03 and abs(found["box"][2] - 0.70) < 0.03
        assert results[cat]["counts"] == {"cat": 1}
    parrot = results["parrot.jpg"]
    assert [d["label"] for d in parrot["detections"]] == ["bird"]
    assert all(d["score"] >= 0.5 for r in results.values() for d in r["detections"])


def test_a_tf2_ordered_copy_gives_the_same_detections(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    from tests.support import tflite_edit

    original = tflite_edit.load(test_data / "models" / "ssd_mobilenet_v1_coco_quant.tflite")
    # TF2's order: scores, boxes, count, classes.
    tf2 = tflite_edit.save(
        tflite_edit.permute_outputs(original, [2, 0, 3, 1]), tmp_path / "tf2.tflite"
    )
    scene = _scene(tmp_path, test_data)
    found = []
    for name, model in (("tf1", "ssd_mobilenet_v1_coco_quant"), ("tf2", str(tf2)[:-7])):
        run_dir = tmp_path / name
        run_dir.mkdir()
        config = detector_config(run_dir, broker.port, test_data, scene, model=model)
        subscriber = subscriber_factory(broker)
        results = _results_by_photo(appliance_factory, subscriber, config)
        found.append({photo: r["detections"] for photo, r in results.items()})
    assert found[0] == found[1]
    assert found[0]["parrot.jpg"][0]["label"] == "bird"


def _check_config(config):
    import subprocess

    from edgeeye.tools.launcher import edgeeye_command

    return subprocess.run(
        edgeeye_command("check-config", str(config)), capture_output=True, text=True, timeout=60
    )


def test_check_config_says_what_the_model_was_taken_for(tmp_path, test_data):
    config = detector_config(tmp_path, 1883, test_data, "{type: synthetic}")
    completed = _check_config(config)
    assert completed.returncode == 0, completed.stderr
    model = test_data / "models" / "ssd_mobilenet_v1_coco_quant.tflite"
    assert (
        f"edgeeye: model {model}: a detector (outputs told apart by tensor names), input"
        f" 300x300 uint8, 90 labels from {test_data}/models/coco_labels.txt"
    ) in completed.stderr.splitlines()
    assert "task: auto" in completed.stdout and "min_score: null" in completed.stdout


def test_a_model_that_cannot_do_the_task_exits_3_naming_it(tmp_path, test_data):
    from tests.support import tflite_edit

    detector = test_data / "models" / "ssd_mobilenet_v1_coco_quant.tflite"
    three = tflite_edit.save(
        tflite_edit.permute_outputs(tflite_edit.load(detector), [0, 1, 2]),
        tmp_path / "three_outputs.tflite",
    )
    cases = [
        (
            detector_config(tmp_path, 1883, test_data, "{type: synthetic}", model=str(three)[:-7]),
            f"edgeeye: error: model {three}: outputs [1, 10, 4], [1, 10], [1, 10]; need one"
            " score per class (a classifier) or boxes, classes, scores and count (a detector)",
        ),
    ]
    classifier_dir = tmp_path / "classifier"
    classifier_dir.mkdir()
    from tests.support.configs import device_config

    forced = device_config(
        classifier_dir,
        1883,
        test_data,
        model="mobilenet_v2_1.0_224_quant",
        source="{type: synthetic}",
        model_entries="  task: detect",
    )
    classifier = test_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    cases.append(
        (
            forced,
            f"edgeeye: error: model {classifier}: outputs [1, 1001] are not a detector's (boxes"
            " [1, N, 4], classes [1, N], scores [1, N], count [1]); model.task is detect",
        )
    )
    for config, line in cases:
        completed = _check_config(config)
        assert completed.returncode == 3, completed.stderr
        errors = [e for e in completed.stderr.splitlines() if e.startswith("edgeeye: error:")]
        assert errors == [line]


def test_the_snapshot_shows_the_boxes_where_they_are(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    import io

    import numpy as np
    from PIL import Image

    from edgeeye.inference.preprocess import to_model_rgb
    from edgeeye.sources.frame import PixelFormat

    photo = test_data / "images" / "cat.bmp"
    config = detector_config(
        tmp_path,
        broker.port,
        test_data,
        f"{{type: images, path: {photo}, loop: false}}",
        "snapshot: {enabled: true, quality: 95}",
    )
    subscriber = subscriber_factory(broker)
    run_to_end(appliance_factory, config, subscriber)
    (result,) = subscriber.json_on("/result")
    (snapshot,) = subscriber.on("/snapshot")
    assert_matches_schema("snapshot", snapshot.payload)
    drawn = np.asarray(Image.open(io.BytesIO(snapshot.payload)).convert("RGB"), np.int16)
    pixels = np.asarray(Image.open(photo).convert("RGB"))
    plain = to_model_rgb(pixels, PixelFormat.RGB888, *pixels.shape[:2], (300, 300))
    assert drawn.shape == plain.shape  # the frame as the model saw it
    changed = np.abs(drawn - plain.astype(np.int16)).max(axis=2) > 60
    (cat,) = result["detections"]
    x_min, y_min, x_max, y_max = (round(v * 299) for v in cat["box"])
    # The outline: its left and right edges, over the lower part of the box (above is the
    # label), are drawn; the picture right of the box is not touched.
    middle = slice((y_min + y_max) // 2, y_max - 2)
    assert changed[middle, x_min : x_min + 2].mean() > 0.9
    assert changed[middle, x_max - 1 : x_max + 1].mean() > 0.9
    assert changed[:, x_max + 6 :].mean() < 0.01

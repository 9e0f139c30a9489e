"""Regions and detect-then-classify (issue 17, items 2 and 4), through the real appliance
and a real mosquitto: two photographs side by side give each region its own label; a
detection belongs to the region its box stands in; the parrot's box, cropped from the
full frame, gets its species from the bird model."""

from __future__ import annotations

from tests.support.appliance import run_to_end
from tests.support.configs import detector_config, photo_config
from tests.support.scenes import side_by_side, split_of
from tests.support.schemas import assert_matches_schema


def _only_result(appliance_factory, subscriber, config) -> dict:
    run_to_end(appliance_factory, config, subscriber)
    (message,) = subscriber.on("/result")
    assert_matches_schema("result", message.payload)
    (result,) = subscriber.json_on("/result")
    return result


def test_two_photographs_side_by_side_give_each_region_its_label(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    frame = side_by_side(test_data, "cat.bmp", "parrot.jpg", tmp_path / "pair.jpg")
    split = round(split_of(frame, test_data, "cat.bmp"), 3)
    config = photo_config(
        tmp_path,
        broker.port,
        test_data,
        f"{{type: images, path: {frame}, loop: false}}",
        f"regions:\n  sofa: {{box: [0, 0, {split}, 1]}}\n  perch: {{box: [{split}, 0, 1, 1]}}\n",
    )
    result = _only_result(appliance_factory, subscriber_factory(broker), config)
    regions = result["regions"]
    assert list(regions) == ["sofa", "perch"]
    assert regions["sofa"]["labels"][0]["label"] == "Egyptian cat"
    assert regions["perch"]["labels"][0]["label"] == "macaw"
    assert regions["perch"]["labels"][0]["score"] > 0.9
    # The frame's labels are the regions' together, best first, top_k of them.
    assert [label["label"] for label in result["labels"][:2]] == ["macaw", "Egyptian cat"]
    assert len(result["labels"]) == 3 and "detections" not in result


def test_a_detection_belongs_to_the_region_its_box_stands_in_and_gets_its_species(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    """The parrot's box ends at 0.92 of the frame's height: it stands in the bottom half,
    though most of it is in the top one."""
    models = test_data / "models"
    config = detector_config(
        tmp_path,
        broker.port,
        test_data,
        f"{{type: images, path: {test_data}/images/parrot.jpg, loop: false}}",
        "regions:\n  sky: {box: [0, 0, 1, 0.5]}\n  ground: {box: [0, 0.5, 1, 1]}\n"
        "classify_detections:\n  labels: [bird]\n"
        f"  model: {{path: {models}/mobilenet_v2_1.0_224_inat_bird_quant.tflite,"
        f" labels: {models}/inat_bird_labels.txt}}\n",
    )
    result = _only_result(appliance_factory, subscriber_factory(broker), config)
    (bird,) = result["detections"]
    assert bird["label"] == "bird" and bird["regions"] == ["ground"]
    assert bird["sub_label"]["index"] == 923
    assert bird["sub_label"]["label"] == "Ara macao (Scarlet Macaw)"
    assert bird["sub_label"]["score"] > 0.5
    assert result["regions"] == {
        "sky": {"labels": [], "counts": {}},
        "ground": {"labels": [{"index": 15, "label": "bird", "score": bird["score"]}],
                   "counts": {"bird": 1}},
    }  # fmt: skip

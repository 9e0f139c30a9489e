"""The config of what the camera looks at (issue 17): regions, presence entries and
classify_detections, each bad value refused in one line naming its key and line."""

from __future__ import annotations

import pytest

from edgeeye.config.app import AppConfig, load_config
from edgeeye.errors import ConfigError
from edgeeye.supervision.reload import prepare
from tests.support.configs import write_config


def _error(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path / "scene.yaml", text))
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "regions:\n  door: {box: [0.5, 0, 0.2, 1]}\n",
            "line 2: regions.door.box: [0.5, 0, 0.2, 1] is not allowed: must be [x_min, y_min,"
            " x_max, y_max] with x_min < x_max and y_min < y_max",
        ),
        ("regions:\n  door: {box: [0, 0, 1.5, 1]}\n", "line 2: regions.door.box.2: 1.5"),
        ("regions:\n  Front Door: {box: [0, 0, 1, 1]}\n", "line 2: regions.Front Door"),
        (
            "regions:\n  door: {box: [0, 0, 1, 1]}\n"
            "presence:\n  - {label: person, region: drive}\n",
            "line 4: presence.0.region: 'drive' is not allowed: must be one of the regions (door)",
        ),
        (
            "presence:\n  - {label: person}\n  - {label: Person}\n",
            "line 3: presence.1: is 'person', as presence.0 is: give one another label, region"
            " or id",
        ),
        ("presence:\n  - {label: person, frames: 0}\n", "line 2: presence.0.frames: 0"),
        (
            "classify_detections:\n  labels: [bird]\n  model: {threads: 1}\n",
            "line 1: classify_detections: ",
        ),
        (
            "classify_detections:\n  labels: [bird]\n  model: {name: no_such_model}\n",
            "line 3: classify_detections.model.name: 'no_such_model' is not allowed",
        ),
    ],
)
def test_a_bad_scene_is_refused_naming_the_key_and_line(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


def test_crops_need_the_cameras_full_frame():
    camera = {"type": "picamera2", "main_size": [1280, 720]}
    plain = AppConfig.model_validate({"source": camera})
    assert plain.capture_size((224, 224)) == (224, 224)  # the ISP scales to the model
    cropping = AppConfig.model_validate(
        {"source": camera, "regions": {"door": {"box": [0, 0, 0.5, 1]}}}
    )
    assert cropping.crops_from_frame and cropping.capture_size((224, 224)) == (720, 1280)
    # Other sources give their frames as they are, whatever the model.
    assert AppConfig.model_validate({"regions": cropping.regions}).capture_size((224, 224)) == (
        224,
        224,
    )


def test_classifying_detections_needs_a_detector(tmp_path, test_data):
    models = test_data / "models"
    config = write_config(
        tmp_path / "cascade.yaml",
        f"model: {{path: {models}/mobilenet_v2_1.0_224_quant.tflite,"
        f" labels: {models}/imagenet_labels.txt}}\n"
        f"classify_detections:\n  labels: [bird]\n"
        f"  model: {{path: {models}/mobilenet_v2_1.0_224_inat_bird_quant.tflite,"
        f" labels: {models}/inat_bird_labels.txt}}\n",
    )
    with pytest.raises(ConfigError, match=r"classify_detections: needs a detector; model .* is a"):
        prepare(config)

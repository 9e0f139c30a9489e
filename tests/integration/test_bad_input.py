"""Bad input at start-up: exit status, one line naming the culprit, nothing left behind."""

from __future__ import annotations

import os
import subprocess

import pytest

from edgeeye.tools.launcher import edgeeye_command
from tests.support.appliance import run_once
from tests.support.configs import write_config
from tests.support.fakes import fake_camera
from tests.support.images import png_claiming
from tests.support.processes import shm_segments


def _run(config, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_once(config, *args, timeout=timeout)


def _error_line(completed: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in completed.stderr.splitlines() if line.startswith("edgeeye: error:")]
    assert len(lines) == 1, completed.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("device_id: front/door\n", "line 1: device_id: 'front/door' is not allowed"),
        ("mqtt:\n  prot: 1883\n", "line 2: mqtt.prot: unknown key"),
        ("workers: many\n", "line 1: workers: 'many' is not allowed"),
        ("model:\n  path: /nonexistent/m.tflite\n  labels: l.txt\n", "line 2: model.path"),
        ("model:\n  name: not_a_model\n", "line 2: model.name: 'not_a_model' is not allowed"),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path, text, expected):
    completed = _run(write_config(tmp_path / "bad.yaml", text))
    assert completed.returncode == 2
    assert expected in _error_line(completed)


def test_a_key_given_twice_is_refused_by_run_and_check_config_naming_both_lines(tmp_path):
    """A hand edit over SSH that adds a key again instead of changing it: the later value
    would win silently."""
    config = write_config(tmp_path / "twice.yaml", "device_id: cam1\nmqtt:\n  port: 1883\n"
                          "  host: 127.0.0.1\n  port: 1884\n")  # fmt: skip
    expected = f"edgeeye: error: {config}: line 5: mqtt.port: given twice (lines 3 and 5)"
    for completed in (
        _run(config),
        subprocess.run(
            edgeeye_command("check-config", str(config)), capture_output=True, text=True
        ),
    ):
        assert completed.returncode == 2, completed.stderr
        assert _error_line(completed) == expected
        assert completed.stdout == ""


def test_check_config_prints_the_resolved_config_or_the_error(tmp_path, test_data, monkeypatch):
    # The model is checked too (the same verdict a reload gives): it must be findable.
    monkeypatch.setenv("EDGEEYE_MODEL_DIR", str(test_data / "models"))
    good = write_config(tmp_path / "good.yaml", "device_id: porch\n")
    completed = subprocess.run(
        edgeeye_command("check-config", str(good)), capture_output=True, text=True
    )
    assert completed.returncode == 0 and "device_id: porch" in completed.stdout
    assert "client_id: null" in completed.stdout and "workers: auto" in completed.stdout
    bad = write_config(tmp_path / "bad.yaml", "device_id: 'a#'\n")
    completed = subprocess.run(
        edgeeye_command("check-config", str(bad)), capture_output=True, text=True
    )
    assert completed.returncode == 2 and "device_id: 'a#'" in _error_line(completed)


def _model_config(tmp_path, test_data, model: str, labels: str, extra: str = "") -> object:
    return write_config(
        tmp_path / "edgeeye.yaml",
        f"model: {{path: {test_data}/models/{model}, labels: {test_data}/models/{labels}}}\n"
        f"mqtt: {{port: 1}}\n{extra}",
    )


def test_broken_model_exits_3_naming_the_file(tmp_path, test_data):
    before = shm_segments()
    completed = _run(
        _model_config(tmp_path, test_data, "model_invoking_error.tflite", "imagenet_labels.txt")
    )
    assert completed.returncode == 3
    assert "model_invoking_error.tflite: cannot load" in _error_line(completed)
    assert shm_segments() <= before


def test_labels_count_mismatch_exits_3(tmp_path, test_data):
    completed = _run(
        _model_config(
            tmp_path,
            test_data,
            "mobilenet_v2_1.0_224_inat_bird_quant.tflite",
            "imagenet_labels.txt",
        )
    )
    assert completed.returncode == 3
    assert "has 1001 labels but model mobilenet_v2_1.0_224_inat_bird_quant.tflite" in _error_line(
        completed
    )


def _images_config(tmp_path, test_data, folder) -> object:
    """The small model on an images source reading ``folder``."""
    return _model_config(
        tmp_path,
        test_data,
        "mobilenet_v1_0.25_128_quant.tflite",
        "imagenet_labels.txt",
        f"source: {{type: images, path: {folder}}}\n",
    )


def test_missing_images_exit_4_naming_the_path(tmp_path, test_data):
    completed = _run(_images_config(tmp_path, test_data, tmp_path / "no-such-folder"))
    assert completed.returncode == 4
    assert "no-such-folder" in _error_line(completed)


def test_a_folder_of_only_a_decompression_bomb_exits_4_naming_the_file(tmp_path, test_data):
    """It was Pillow's DecompressionBombError as a traceback and exit 1."""
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(png_claiming(60000, 60000))
    completed = _run(_images_config(tmp_path, test_data, folder))
    assert completed.returncode == 4, completed.stderr
    assert _error_line(completed).startswith(
        f"edgeeye: error: images source {folder}: no usable image; image {folder / 'bomb.png'}:"
        " not decoded, a possible decompression bomb: Image size (3600000000 pixels)"
    )
    assert "Traceback" not in completed.stderr


def test_check_config_warns_of_a_decompression_bomb_among_photos(tmp_path, test_data):
    """Finding 3: the bomb passed check-config without a word; run then died on it."""
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(png_claiming(60000, 60000))
    (folder / "parrot.jpg").symlink_to(test_data / "images" / "parrot.jpg")
    config = _images_config(tmp_path, test_data, folder)
    completed = subprocess.run(
        edgeeye_command("check-config", str(config)), capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    warnings = [line for line in completed.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        f"edgeeye: warning: image {folder / 'bomb.png'}: not decoded, a possible decompression"
    )
    assert warnings[0].endswith("(it will be skipped)")


def test_ring_larger_than_dev_shm_exits_5_with_both_figures(tmp_path, test_data):
    before = shm_segments()
    completed = _run(
        _model_config(
            tmp_path,
            test_data,
            "mobilenet_v1_0.25_128_quant.tflite",
            "imagenet_labels.txt",
            "source: {type: synthetic, width: 7680, height: 4320}\nring: {slots: 256}\n",
        )
    )
    assert completed.returncode == 5
    line = _error_line(completed)
    assert "/dev/shm: the frame ring needs" in line and "MiB are free" in line
    assert shm_segments() <= before


def test_check_config_imports_the_camera_stack_as_the_capture_process_will(tmp_path, test_data):
    """On a Pi whose picamera2 cannot import (absent, or a numpy it was not built against),
    check-config exits 4 naming the camera and the cause; with the camera stack (here the
    fake) it passes."""
    config = write_config(
        tmp_path / "camera.yaml",
        f"model: {{path: {test_data}/models/mobilenet_v1_0.25_128_quant.tflite,"
        f" labels: {test_data}/models/imagenet_labels.txt}}\nsource: {{type: picamera2}}\n",
    )
    completed = subprocess.run(
        edgeeye_command("check-config", str(config)), capture_output=True, text=True
    )
    assert completed.returncode == 4, completed.stderr
    assert _error_line(completed) == (
        "edgeeye: error: camera 0: picamera2 cannot be imported: No module named 'picamera2'"
        " (apt install python3-picamera2)"
    )
    completed = subprocess.run(
        edgeeye_command("check-config", str(config)),
        capture_output=True,
        text=True,
        env={**os.environ, **fake_camera()},
    )
    assert completed.returncode == 0, completed.stderr
    assert "type: picamera2" in completed.stdout

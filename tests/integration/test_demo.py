"""``edgeeye demo`` as the README's first command runs it: the real pipeline against a
private broker, on the photographs and models it is pointed at, results shown live."""

from __future__ import annotations

import os
import re
import subprocess

from edgeeye.tools.launcher import edgeeye_command
from tests.support.paths import EXPECTED_TOP1


def _demo(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The demo with no model folder in its environment and an empty model cache."""
    env = {**{k: v for k, v in os.environ.items() if k != "EDGEEYE_MODEL_DIR"}, **env}
    env["EDGEEYE_MODEL_CACHE"] = str(tmp_path / "empty-cache")
    return subprocess.run(
        edgeeye_command("demo", *args),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_the_demo_classifies_the_photographs_it_is_given_with_the_models_it_is_shown(
    tmp_path, test_data
):
    shown = _demo(
        tmp_path,
        "--seconds", "4",
        "--model-dir", str(test_data / "models"),
        "--images", str(test_data / "images"),
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert f"on the photographs in {test_data / 'images'}" in shown.stdout
    results = re.findall(r"^  #\d+ +(\S+) +-> (.+?) +\d\.\d\d  worker", shown.stdout, re.M)
    assert len(results) >= 5, shown.stdout
    assert {(photo, label.strip()) for photo, label in results} == set(EXPECTED_TOP1.items())
    assert "  stats: captured" in shown.stdout


def test_without_a_model_dir_the_demo_looks_nowhere_else(tmp_path, test_data):
    """The test data is not found by itself (not beside the project, not through the tests'
    variable): the default model is looked up in the (empty) cache alone."""
    images = str(test_data / "images")
    shown = _demo(tmp_path, "--seconds", "2", "--images", images, EDGEEYE_TEST_DATA=str(test_data))
    assert shown.returncode == 3, shown.stdout + shown.stderr
    assert f"mobilenet_v2_1.0_224_quant: not found in {tmp_path / 'empty-cache'};" in shown.stderr

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


#: What the shipped photographs (edgeeye/tools/photos) are, to the shipped model.
SHIPPED_TOP1 = {
    "cat_720p.jpg": "Egyptian cat",
    "grace_hopper.jpg": "military uniform",
    "parrot.jpg": "macaw",
}


def test_on_a_fresh_machine_the_demo_classifies_its_own_photographs_with_the_built_in_model(
    tmp_path,
):
    """No test data, no model folder, an empty cache and an empty HOME: the first run of
    a newcomer.  The model shipped in the package and its photographs give real labels."""
    home = tmp_path / "home"
    home.mkdir()
    shown = _demo(
        tmp_path, "--seconds", "4", HOME=str(home), EDGEEYE_TEST_DATA=str(tmp_path / "none")
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr[-2000:]
    assert "on edgeeye's demo photographs" in shown.stdout
    results = re.findall(r"^  #\d+ +(\S+) +-> (.+?) +(\d\.\d\d)  worker", shown.stdout, re.M)
    assert {(photo, label.strip()) for photo, label, _ in results} == set(SHIPPED_TOP1.items())
    assert all(float(score) >= 0.5 for *_, score in results), results
    assert list(home.iterdir()) == [], "the demo wrote into HOME"


def test_the_demo_runs_on_synthetic_frames_when_asked(tmp_path):
    shown = _demo(tmp_path, "--seconds", "3", "--synthetic")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "on synthetic frames" in shown.stdout
    assert len(re.findall(r"^  #\d+ +-> ", shown.stdout, re.M)) >= 5, shown.stdout

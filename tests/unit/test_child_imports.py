"""What each process loads: children share the child server's imports and carry no config
validation; the main process loads no drawing library until it draws.

Memory on a 512 MB Pi is the reason (see docs/benchmarks.md); each import is checked in a
fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest

from edgeeye.config.app import AppConfig
from edgeeye.sources.configured import SOURCE_TYPES, source_settings
from edgeeye.sources.images import ImagesSource
from edgeeye.sources.picamera import Picamera2Source
from edgeeye.sources.synthetic import SyntheticSource
from edgeeye.sources.video import VideoSource
from edgeeye.supervision.child_server import child_modules


def _loaded_after(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _under(loaded: set[str], package: str) -> list[str]:
    return sorted(m for m in loaded if m == package or m.startswith(package + "."))


def test_the_child_server_preloads_the_tflite_runtime_the_workers_will_load():
    modules = child_modules()
    runtime = [m for m in modules if m.endswith(".interpreter") and "edgeeye" not in m]
    assert runtime in (["ai_edge_litert.interpreter"], ["tflite_runtime.interpreter"])
    loaded = _loaded_after(*modules)
    assert runtime[0] in loaded
    # What a worker opens its model with is then already there, not imported per worker.
    assert {"edgeeye.inference.interpreter", "edgeeye.inference.runner", "PIL.Image"} <= loaded


def test_capture_and_workers_load_no_config_validation_and_no_mqtt():
    loaded = _loaded_after("edgeeye.pipeline.capture", "edgeeye.pipeline.worker")
    for package in ("pydantic", "pydantic_core", "yaml", "paho", "sqlite3", "PIL.ImageDraw"):
        assert _under(loaded, package) == [], package
    assert _under(loaded, "edgeeye.config") == ["edgeeye.config", "edgeeye.config.excerpts"]


def test_the_main_process_loads_pillows_drawing_only_when_it_draws():
    loaded = _loaded_after("edgeeye.cli", "edgeeye.supervision.supervisor")
    assert "edgeeye.publish.snapshot_marks" in loaded
    assert _under(loaded, "PIL.ImageDraw") == []
    assert _under(loaded, "PIL.ImageFont") == []


@pytest.mark.parametrize(
    ("section", "source_class"),
    [
        ({"type": "synthetic", "width": 320, "height": 240, "fps": 5}, SyntheticSource),
        ({"type": "images", "path": "/srv/photos", "loop": False}, ImagesSource),
        ({"type": "video", "path": "/dev/video0"}, VideoSource),
        ({"type": "picamera2", "camera": 1, "main_size": [1280, 720]}, Picamera2Source),
    ],
)
def test_capture_is_handed_plain_settings_that_make_the_configured_source(section, source_class):
    config = AppConfig.model_validate({"source": section})
    settings = source_settings(config.source)
    # No config model crosses to the capture process: the settings pickle without pydantic.
    assert b"pydantic" not in pickle.dumps(settings)
    assert b"edgeeye.config" not in pickle.dumps(settings)
    source = pickle.loads(pickle.dumps(settings)).make((224, 224))
    assert type(source) is source_class
    assert source.settings == settings
    assert len(SOURCE_TYPES) == 4


def test_the_camera_is_asked_for_the_models_size_as_width_by_height():
    config = AppConfig.model_validate({"source": {"type": "picamera2"}})
    camera = source_settings(config.source).make((300, 400))  # (height, width)
    assert isinstance(camera, Picamera2Source)
    assert (camera.width, camera.height) == (400, 300)

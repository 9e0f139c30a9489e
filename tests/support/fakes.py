"""The fakes in tests/fakes, which a child process picks up from its PYTHONPATH.

``tests/fakes`` holds ``picamera2`` (a camera whose cable a test can pull);
``tests/fakes/hanging_interpreter`` holds an ``ai_edge_litert`` and a ``tflite_runtime``
whose workers hang in their first invoke on request.  Product code knows of neither.
"""

from __future__ import annotations

import os
from pathlib import Path

#: On PYTHONPATH, ``import picamera2`` finds the fake camera (tests/fakes/picamera2).
FAKES = Path(__file__).resolve().parents[1] / "fakes"
#: First on PYTHONPATH, it shadows the real ai_edge_litert (real model, real interpreter,
#: only ``invoke`` wrapped): see tests/fakes/hanging_interpreter/ai_edge_litert.
HANGING_INTERPRETER = FAKES / "hanging_interpreter"


def python_path(*folders: Path) -> str:
    """A PYTHONPATH of ``folders`` first, then whatever the tests themselves run with."""
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    return os.pathsep.join([*(str(folder) for folder in folders), *inherited])


def fake_camera(**settings: str) -> dict[str, str]:
    """Environment for an appliance on the fake picamera2; ``settings`` are its
    FAKE_PICAMERA2_<NAME> variables (``state="/tmp/cable"`` sets FAKE_PICAMERA2_STATE)."""
    variables = {f"FAKE_PICAMERA2_{name.upper()}": value for name, value in settings.items()}
    return {"PYTHONPATH": python_path(FAKES), **variables}


def hanging_workers(which: str, marker: Path | None = None) -> dict[str, str]:
    """Environment for an appliance whose workers ``which`` ("1", "0,1" or "all") hang in
    their first invoke; with ``marker``, only the first of them to create that file does."""
    hang = which if marker is None else f"{which}:{marker}"
    return {"PYTHONPATH": python_path(HANGING_INTERPRETER), "EDGEEYE_FAKE_HANG": hang}

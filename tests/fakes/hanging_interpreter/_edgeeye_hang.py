"""What the shadow packages here share: finding the real package they stand in front of,
loading its real ``interpreter`` module, and an ``Interpreter`` that hangs on request.

``EDGEEYE_FAKE_HANG`` names the edgeeye workers that hang (sleep forever) in their first
invoke: worker ids ("0,1") or "all", optionally followed by ":<marker file>"; then only
the first of them to create that file hangs, so its replacement works.  It stands in for
a wedged delegate or a model that never returns.  A worker is known by its process name,
which edgeeye's ``pre_run_setup`` sets to "edgeeye.worker:<id>" before the model is
loaded; no other process ever hangs.  The model, the interpreter and every other call
are the real ones.  Both interpreters edgeeye accepts are shadowed (``ai_edge_litert`` and
``tflite_runtime``, which the role installs on Bookworm), so the hang follows whichever
one edgeeye picks.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import re
import sys
import time
from importlib.machinery import PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

#: The folder put on PYTHONPATH (tests/fakes/hanging_interpreter), left out of the search.
FAKE_ROOT = Path(__file__).resolve().parent
_WORKER = re.compile(r"edgeeye\.worker:(\d+)")


def real_package_dir(name: str) -> Path:
    """The real package's folder: the package as found on sys.path without us."""
    search = [entry for entry in sys.path if Path(entry or ".").resolve() != FAKE_ROOT]
    spec = PathFinder.find_spec(name, search)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"tests/fakes/hanging_interpreter: the real {name} is missing")
    return Path(next(iter(spec.submodule_search_locations)))


def load_real_interpreter(package: str, real_dir: Path) -> ModuleType:
    """The real interpreter.py, run as a private module of the shadow ``package``."""
    name = f"{package}._real_interpreter"
    spec = importlib.util.spec_from_file_location(name, real_dir / "interpreter.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {real_dir / 'interpreter.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def public_names(module: ModuleType) -> dict[str, Any]:
    """What the real module offers (load_delegate, SignatureRunner, ...)."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


def hang_requested() -> bool:
    """Should this process hang in its first invoke?  (Creates the marker file if so.)"""
    which, _, marker = os.environ.get("EDGEEYE_FAKE_HANG", "").partition(":")
    worker = _WORKER.fullmatch(multiprocessing.current_process().name)
    if not which or worker is None:
        return False
    if which != "all" and worker.group(1) not in which.split(","):
        return False
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
    return True


def hanging(real_interpreter: type) -> type:
    """``real_interpreter`` whose first ``invoke()`` never returns if ``hang_requested()``."""

    class Interpreter(real_interpreter):  # type: ignore[misc, valid-type]
        _hang_checked = False

        def invoke(self) -> None:
            if not self._hang_checked:
                self._hang_checked = True
                if hang_requested():
                    while True:
                        time.sleep(3600)
            super().invoke()

    return Interpreter

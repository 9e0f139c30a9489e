"""The real ``ai_edge_litert.interpreter`` with an ``invoke()`` that hangs on request.

``EDGEEYE_FAKE_HANG`` names the edgeeye workers that hang (sleep forever) in their first
invoke: worker ids ("0,1") or "all", optionally followed by ":<marker file>"; then only
the first of them to create that file hangs, so its replacement works.  It stands in for
a wedged delegate or a model that never returns.  A worker is known by its process name,
which edgeeye's ``pre_run_setup`` sets to "edgeeye.worker:<id>" before the model is
loaded; no other process ever hangs.  The model, the interpreter and every other call
are the real ones.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import re
import sys
import time
from types import ModuleType

from ai_edge_litert import REAL_PACKAGE

_WORKER = re.compile(r"edgeeye\.worker:(\d+)")


def _load_real() -> ModuleType:
    """The real interpreter.py, run as a private module of this package."""
    name = f"{__package__}._real_interpreter"
    spec = importlib.util.spec_from_file_location(name, REAL_PACKAGE / "interpreter.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {REAL_PACKAGE / 'interpreter.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_real = _load_real()
# What the real module offers (load_delegate, SignatureRunner, ...), then our Interpreter.
globals().update(
    {
        name: value
        for name, value in vars(_real).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
)


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


class Interpreter(_real.Interpreter):
    """The real interpreter; its first ``invoke()`` never returns if ``hang_requested()``."""

    _hang_checked = False

    def invoke(self) -> None:
        if not self._hang_checked:
            self._hang_checked = True
            if hang_requested():
                while True:
                    time.sleep(3600)
        super().invoke()

"""The real ``tflite_runtime.interpreter`` with an ``invoke()`` that hangs on request
(see ../_edgeeye_hang.py for ``EDGEEYE_FAKE_HANG``)."""

from __future__ import annotations

from _edgeeye_hang import hanging, load_real_interpreter, public_names

from tflite_runtime import REAL_PACKAGE

_real = load_real_interpreter(__package__, REAL_PACKAGE)
globals().update(public_names(_real))
Interpreter = hanging(_real.Interpreter)

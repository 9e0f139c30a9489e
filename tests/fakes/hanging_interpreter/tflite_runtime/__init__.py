"""A stand-in for ``tflite_runtime`` whose interpreter can hang in ``invoke()``.

With ``tests/fakes/hanging_interpreter`` first on PYTHONPATH this package shadows the real
one.  Only ``interpreter`` is its own (see interpreter.py and ../_edgeeye_hang.py); every
other module, the compiled wrappers included, comes from the real package, whose folder is
appended to this package's ``__path__``.  Without the real package it fails to import,
as the real one would be missing.
"""

from __future__ import annotations

from _edgeeye_hang import real_package_dir

REAL_PACKAGE = real_package_dir(__name__)
__path__.append(str(REAL_PACKAGE))

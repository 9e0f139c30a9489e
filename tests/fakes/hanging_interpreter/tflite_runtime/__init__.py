"""The ``tflite_runtime`` twin of ../ai_edge_litert/__init__.py (Bookworm's interpreter)."""

from __future__ import annotations

from _edgeeye_hang import real_package_dir

REAL_PACKAGE = real_package_dir(__name__)
__path__.append(str(REAL_PACKAGE))

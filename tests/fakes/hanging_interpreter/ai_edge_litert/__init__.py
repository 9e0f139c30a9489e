"""A stand-in for ``ai_edge_litert`` whose interpreter can hang in ``invoke()``.

With ``tests/fakes/hanging_interpreter`` first on PYTHONPATH this package shadows the real
one.  Only ``interpreter`` is its own (see interpreter.py); every other module, the
compiled wrappers included, comes from the real package, whose folder is appended to this
package's ``__path__``.
"""

from __future__ import annotations

import sys
from importlib.machinery import PathFinder
from pathlib import Path

#: The folder put on PYTHONPATH (tests/fakes/hanging_interpreter), left out of the search.
_FAKE_ROOT = Path(__file__).resolve().parent.parent


def _real_package_dir() -> Path:
    """The real ``ai_edge_litert`` folder: the package as found on sys.path without us."""
    search = [entry for entry in sys.path if Path(entry or ".").resolve() != _FAKE_ROOT]
    spec = PathFinder.find_spec(__name__, search)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tests/fakes/hanging_interpreter: the real ai_edge_litert is missing")
    return Path(next(iter(spec.submodule_search_locations)))


REAL_PACKAGE = _real_package_dir()
__path__.append(str(REAL_PACKAGE))

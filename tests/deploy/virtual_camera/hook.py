"""The import hook that patches picamera2 right after it is imported, and only then.

A ``.pth`` line runs in every Python process of the tree (pip, ``python3 -m venv``,
edgeeye's main process, its workers), and most of them never touch the camera.  Importing
picamera2 there would load libcamera and numpy into each of them.  So the ``.pth`` line only
puts :class:`_Finder` at the front of ``sys.meta_path``; this module imports nothing
but ``sys``, and the finder looks at two module names and lets every other one pass:

* ``picamera2.picamera2`` (the module that defines ``Picamera2``, imported by
  ``import picamera2``) is found and loaded by the normal machinery, then patched by
  :func:`virtual_camera.patches.apply` before any code can use it.
* ``pykms`` resolves to :mod:`virtual_camera.pykms_stub` when no real one is installed.
"""

from __future__ import annotations

import sys

# Only for the annotations: typing and collections.abc are not loaded at interpreter start,
# and this module is imported by every process of the tree (see above).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType
    from typing import Any

_PATCHED_MODULE = "picamera2.picamera2"
_STUBBED_MODULE = "pykms"


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder:
    """A meta path finder that answers only for the two modules above."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname not in (_PATCHED_MODULE, _STUBBED_MODULE):
            return None
        spec = _find_elsewhere(self, fullname, path, target)
        if fullname == _STUBBED_MODULE:
            if spec is not None:  # a real pykms (Raspberry Pi OS's python3-kms++) wins
                return spec
            import importlib.util
            from pathlib import Path

            stub = Path(__file__).with_name("pykms_stub.py")
            return importlib.util.spec_from_file_location(_STUBBED_MODULE, stub)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def _find_elsewhere(
    me: _Finder, fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> Any:
    """The spec the rest of ``sys.meta_path`` finds for ``fullname``, or None."""
    for finder in sys.meta_path:
        if finder is me or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


class _PatchingLoader:
    """The real loader, plus :func:`virtual_camera.patches.apply` once the module ran.

    Everything else (``get_source`` for tracebacks, ``get_code``, resources) is the real
    loader's, so the module looks no different to ``inspect`` or ``linecache``.
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        from virtual_camera.patches import apply

        apply(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

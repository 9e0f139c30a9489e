"""A stand-in for ``pykms`` (kms++'s Python bindings), which exists only on Raspberry Pi OS.

``import picamera2`` imports its DRM preview, which imports pykms and, while defining
``DrmPreview``, reads ``PixelFormat.RGB888`` and friends.  Without it::

    ModuleNotFoundError: No module named 'pykms'

Debian has no python3-kms++, and the tests never open a preview (there is no display),
so this stub only satisfies that import: ``PixelFormat.<NAME>`` is the name itself, and
anything else fails loudly if something ever does try to drive a display.
"""

from __future__ import annotations

from typing import NoReturn


class _FormatNames(type):
    def __getattr__(cls, name: str) -> str:
        return name


class PixelFormat(metaclass=_FormatNames):
    """``PixelFormat.NV12 == "NV12"``: enough for ``DrmPreview.FMT_MAP``."""


def __getattr__(name: str) -> NoReturn:
    raise AttributeError(f"pykms stub: {name} is not available (no DRM display in the tests)")

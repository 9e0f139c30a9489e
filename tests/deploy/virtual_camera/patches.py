"""What :mod:`virtual_camera.hook` changes in ``picamera2.picamera2`` as it is imported.

1. ``Picamera2.__init__`` lists the sensor's modes by asking for a Raw stream
   (``_get_raw_modes``).  The virtual pipeline has no sensor and refuses that role::

       ERROR Virtual virtual.cpp:272 Requested stream role not supported: Raw
       AttributeError: 'NoneType' object has no attribute 'at'
       RuntimeError: Camera __init__ sequence did not complete.

   When the Raw role is refused, the "modes" become what a VideoRecording stream offers
   (NV12 at each size listed in virtual.yaml); picamera2 takes the largest as the sensor
   resolution.  A camera that has a Raw role gets picamera2's own code.

2. With no dma-heap device (the CI kernel has none), ``DmaAllocator`` becomes
   :class:`~virtual_camera.memfd_allocator.MemfdAllocator`.  picamera2 makes one both in
   ``__init__`` and in ``close()``, each time failing with::

       RuntimeError: Could not open any dmaHeap device

   so the name the module looks up is replaced, not just the first instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libcamera
from picamera2.dma_heap import heapNames  # the devices picamera2's DmaHeap tries

from virtual_camera.memfd_allocator import MemfdAllocator


def apply(module: Any) -> None:
    """Patch ``module``, a freshly executed ``picamera2.picamera2`` (untyped, as picamera2)."""
    camera_class = module.Picamera2
    own_raw_modes = camera_class._get_raw_modes

    def _get_raw_modes(self: Any) -> list[dict[str, Any]]:
        if self.camera.generate_configuration([libcamera.StreamRole.Raw]) is not None:
            modes: list[dict[str, Any]] = own_raw_modes(self)
            return modes
        formats = (
            self.camera.generate_configuration([libcamera.StreamRole.VideoRecording]).at(0).formats
        )
        return [
            {"format": str(pixel_format), "size": (size.width, size.height)}
            for pixel_format in formats.pixel_formats
            for size in formats.sizes(pixel_format)
        ]

    camera_class._get_raw_modes = _get_raw_modes
    if not any(Path(heap).exists() for heap in heapNames):
        module.DmaAllocator = MemfdAllocator  # the name __init__ and close() look up

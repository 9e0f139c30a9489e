"""Test-side shims that let the real picamera2 run on libcamera's *virtual* camera.

``tests/deploy/make-camera-image`` installs this package into the camera tree's system
site-packages, beside the real picamera2 0.3.38, and ``virtual_camera.pth`` calls
:func:`install` at every interpreter start there.  That only puts an import hook in place
(:mod:`virtual_camera.hook`); picamera2 is patched when, and only if, a process imports it.

What the shims stand in for, and why (the findings are in the picam-lab REPORT.md):

* :mod:`virtual_camera.pykms_stub`: Debian has no python3-kms++, so ``import picamera2``
  fails on its DRM preview.
* :mod:`virtual_camera.memfd_allocator`: the CI kernel has no dma-heap, so picamera2's
  default ``DmaAllocator`` cannot allocate a single buffer.
* :mod:`virtual_camera.patches`: the virtual pipeline refuses the Raw stream role that
  ``Picamera2.__init__`` asks for; and the allocator swap above.

None of this is part of edgeeye or installed on a Pi: edgeeye's picamera2 backend runs
unmodified against these, exactly as it does against Raspberry Pi OS's python3-picamera2.
"""

from virtual_camera.hook import install

__all__ = ["install"]

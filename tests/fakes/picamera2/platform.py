"""picamera2.platform: which ISP the Pi has (the real module probes /dev/video*)."""

from __future__ import annotations

import enum


class Platform(enum.Enum):
    VC4 = 0  # Pi 4 and earlier, Zero 2 W: one crop for every stream, lores must be YUV
    PISP = 1  # Pi 5: a crop per stream, RGB lores allowed

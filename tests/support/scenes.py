"""Frames composed in the tests from the real photographs: two side by side (one per
region), a sequence of scenes for presence."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def side_by_side(test_data: Path, left: str, right: str, path: Path, height: int = 480) -> Path:
    """``left`` and ``right`` (photographs of the test data), each scaled to ``height``
    keeping its aspect, joined into one JPEG at ``path``; returns where the join is, as a
    fraction of the width (x = split)."""
    pictures = []
    for name in (left, right):
        picture = Image.open(test_data / "images" / name).convert("RGB")
        width = round(picture.width * height / picture.height)
        pictures.append(picture.resize((width, height), Image.Resampling.LANCZOS))
    joined = Image.new("RGB", (pictures[0].width + pictures[1].width, height))
    joined.paste(pictures[0], (0, 0))
    joined.paste(pictures[1], (pictures[0].width, 0))
    joined.save(path, quality=95)
    return path


def split_of(path: Path, test_data: Path, left: str, height: int = 480) -> float:
    """Where ``side_by_side`` joined its two pictures, as a fraction of the width."""
    picture = Image.open(test_data / "images" / left)
    width = round(picture.width * height / picture.height)
    return width / Image.open(path).width

"""What a snapshot shows of what was found: the boxes and labels drawn on the frame, or
the best detection cropped out (``snapshot.mode``), with Pillow's ImageDraw.

Runs in the snapshot encoder thread, on the frame the model saw; boxes and regions are
fractions of the frame, so they are drawn after scaling, at the snapshot's own size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeeye.config.app import AppConfig
from edgeeye.inference.results import Box, Detection, RegionLabels, Task

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

#: Outline colours, one per label (by its class index), readable on most pictures.
_COLOURS = ("#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#af52de", "#ff9500", "#5ac8fa")
_REGION_COLOUR = "#ffffff"


@dataclass(frozen=True)
class Marks:
    """What to show: ``mode`` "frame", "boxes" or "crop"; the detections and regions that
    survived the publish filters; the regions' boxes by name."""

    mode: str
    detections: tuple[Detection, ...] = ()
    regions: tuple[RegionLabels, ...] = ()
    region_boxes: tuple[tuple[str, Box], ...] = ()


def marks_for(
    config: AppConfig,
    task: Task,
    detections: tuple[Detection, ...],
    regions: tuple[RegionLabels, ...],
) -> Marks:
    """What a snapshot shows under ``snapshot.mode``: auto is boxes for a detector or with
    regions, else the frame."""
    mode = config.snapshot.mode
    if mode == "auto":
        mode = "boxes" if task is Task.DETECT or config.regions else "frame"
    boxes = tuple((name, region.box) for name, region in config.regions.items())
    return Marks(mode, detections, regions, boxes)


def cropped(image: Image.Image, marks: Marks) -> Image.Image:
    """The best detection's box alone (the frame itself when there is none)."""
    if marks.mode != "crop" or not marks.detections:
        return image
    x_min, y_min, x_max, y_max = marks.detections[0].box
    left, top = int(x_min * image.width), int(y_min * image.height)
    right = max(left + 1, round(x_max * image.width))
    bottom = max(top + 1, round(y_max * image.height))
    return image.crop((left, top, right, bottom))


def draw(image: Image.Image, marks: Marks) -> Image.Image:
    """``image`` with the regions and boxes drawn (mode "boxes"), else as it is."""
    if marks.mode != "boxes":
        return image
    # Imported on the first snapshot with boxes: ImageDraw brings FreeType and HarfBuzz
    # (about 1.5 MiB), which an appliance that never draws should not hold.
    from PIL import ImageDraw

    canvas = ImageDraw.Draw(image)
    width, height = image.size
    line = max(1, round(min(width, height) / 150))
    tops = {r.name: r.labels[0] for r in marks.regions if r.labels}
    for name, box in marks.region_boxes:
        top = tops.get(name)
        caption = name if top is None else f"{name}: {top[1]} {top[2]:.2f}"
        _box(canvas, box, (width, height), _REGION_COLOUR, line, caption)
    for found in marks.detections:
        caption = f"{found.label} {found.score:.2f}"
        if found.sub_label is not None:
            caption += f" ({found.sub_label[1]})"
        colour = _COLOURS[found.index % len(_COLOURS)]
        _box(canvas, found.box, (width, height), colour, line, caption)
    return image


def _box(
    canvas: ImageDraw.ImageDraw,
    box: Box,
    size: tuple[int, int],
    colour: str,
    line: int,
    caption: str,
) -> None:
    width, height = size
    x0, y0 = box[0] * (width - 1), box[1] * (height - 1)
    x1, y1 = box[2] * (width - 1), box[3] * (height - 1)
    canvas.rectangle((x0, y0, x1, y1), outline=colour, width=line)
    left, top, right, bottom = canvas.textbbox((0, 0), caption)
    text_h = bottom - top + 2
    label_y = y0 - text_h if y0 >= text_h else y0
    canvas.rectangle((x0, label_y, x0 + right - left + 4, label_y + text_h), fill=colour)
    canvas.text((x0 + 2, label_y + 1 - top), caption, fill="#000000")

"""Which of an SSD-style detector's four outputs is which.

A model ending in TFLite's detection post-processing op has four outputs: boxes
``[1, N, 4]``, classes ``[1, N]``, scores ``[1, N]`` and the count ``[1]``.  TF1 exports
list them in that order, TF2 exports as scores, boxes, count, classes, and converter
versions differ again, so the order is never trusted.  They are told apart, in turn, by
the names in the model's TFLite metadata, by the tensors' own names, and by their shapes
plus running the model: class ids are whole numbers, scores are not.  Whatever names
them must agree with the shapes; a model none of these can settle is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeeye.errors import ModelError
from edgeeye.inference.interpreter import Interpreter

BOXES, CLASSES, SCORES, COUNT = "boxes", "classes", "scores", "count"
#: The post-processing op's own output order, which its tensors' names carry (":1"...).
OP_ORDER = (BOXES, CLASSES, SCORES, COUNT)
_OP_OUTPUT = re.compile(r"TFLite_Detection_PostProcess(?::(\d))?$")
#: Words that name a role: TF's (detection_boxes, num_detections...) and those of the
#: TFLite metadata writers (location, category, score, number of detections).
_KEYWORDS = {
    BOXES: ("box", "location"),
    CLASSES: ("class", "categor"),
    SCORES: ("score",),
    COUNT: ("num", "count"),
}


@dataclass(frozen=True)
class DetectionOutputs:
    """Positions, in the interpreter's output list, of each of the four outputs."""

    boxes: int
    classes: int
    scores: int
    count: int
    found_by: str  # "metadata names", "tensor names" or "shapes and values"


@dataclass(frozen=True)
class _Layout:
    """Positions the shapes alone settle, and the two ``[1, N]`` they cannot."""

    boxes: int
    count: int
    pair: tuple[int, int]


def find_detection_outputs(
    path: Path,
    interpreter: Interpreter,
    metadata_names: tuple[str, ...],
) -> DetectionOutputs | None:
    """The roles of a detector's outputs; None when the outputs are not shaped like one.

    Raises ``ModelError`` naming the model when they are, but cannot be told apart.
    """
    outputs = interpreter.get_output_details()
    layout = _layout(outputs)
    if layout is None:
        return None
    tensor_names = tuple(str(detail.get("name", "")) for detail in outputs)
    for found_by, roles in (
        ("metadata names", _by_keywords(metadata_names)),
        ("tensor names", _by_op_suffix(tensor_names) or _by_keywords(tensor_names)),
    ):
        if roles is not None and _fits(roles, layout):
            return DetectionOutputs(
                roles[BOXES], roles[CLASSES], roles[SCORES], roles[COUNT], found_by
            )
    classes, scores = _by_values(path, interpreter, layout)
    return DetectionOutputs(layout.boxes, classes, scores, layout.count, "shapes and values")


def _layout(outputs: list[dict[str, Any]]) -> _Layout | None:
    if len(outputs) != 4:
        return None
    shapes = [tuple(int(n) for n in detail["shape"]) for detail in outputs]
    boxes = [i for i, s in enumerate(shapes) if len(s) == 3 and s[0] == 1 and s[2] == 4]
    count = [i for i, s in enumerate(shapes) if int(np.prod(s)) == 1 and len(s) <= 2]
    if len(boxes) != 1 or len(count) != 1:
        return None
    n = shapes[boxes[0]][1]
    pair = [i for i, s in enumerate(shapes) if s == (1, n) and i not in count]
    if len(pair) != 2:
        return None
    return _Layout(boxes[0], count[0], (pair[0], pair[1]))


def _by_keywords(names: tuple[str, ...]) -> dict[str, int] | None:
    roles: dict[str, int] = {}
    for position, name in enumerate(names):
        lowered = name.lower()
        matches = [role for role, words in _KEYWORDS.items() if any(w in lowered for w in words)]
        if len(matches) != 1 or matches[0] in roles:
            return None
        roles[matches[0]] = position
    return roles if len(roles) == 4 else None


def _by_op_suffix(names: tuple[str, ...]) -> dict[str, int] | None:
    roles: dict[str, int] = {}
    for position, name in enumerate(names):
        match = _OP_OUTPUT.search(name)
        if match is None or int(match.group(1) or 0) >= len(OP_ORDER):
            return None
        roles[OP_ORDER[int(match.group(1) or 0)]] = position
    return roles if len(roles) == 4 else None


def _fits(roles: dict[str, int], layout: _Layout) -> bool:
    return (
        roles[BOXES] == layout.boxes
        and roles[COUNT] == layout.count
        and {roles[CLASSES], roles[SCORES]} == set(layout.pair)
    )


def _by_values(path: Path, interpreter: Interpreter, layout: _Layout) -> tuple[int, int]:
    """(classes, scores) from running the model: class ids are whole numbers."""
    first, second = layout.pair
    seen: dict[int, list[np.ndarray]] = {first: [], second: []}
    for tensor in _test_inputs(interpreter.get_input_details()[0]):
        outputs = interpreter.get_output_details()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
        try:
            interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"model {path}: invoke failed: {exc}") from exc
        count = int(np.asarray(interpreter.get_tensor(outputs[layout.count]["index"])).item())
        for position in layout.pair:
            values = interpreter.get_tensor(outputs[position]["index"]).reshape(-1)
            seen[position].append(values[: max(0, min(count, values.size))].astype(np.float64))
    return decide_classes(path, np.concatenate(seen[first]), np.concatenate(seen[second]), layout)


def decide_classes(
    path: Path, first: np.ndarray, second: np.ndarray, layout: _Layout
) -> tuple[int, int]:
    """Which of the two ``[1, N]`` outputs holds class ids, from values they gave."""
    if first.size == 0:
        raise _ambiguous(path, "it found nothing in the test pictures")
    first_whole, second_whole = _whole(first), _whole(second)
    if first_whole and not second_whole:
        return layout.pair
    if second_whole and not first_whole:
        return layout.pair[1], layout.pair[0]
    raise _ambiguous(
        path,
        f"outputs {layout.pair[0]} and {layout.pair[1]} both look like "
        + ("class ids" if first_whole else "scores"),
    )


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(values >= 0) and np.all(values == np.round(values)))


def _ambiguous(path: Path, why: str) -> ModelError:
    return ModelError(
        f"model {path}: has a detector's four outputs, but which holds the classes and which"
        f" the scores cannot be told ({why}, and neither its metadata nor its tensor names"
        " say); set model.task: classify if it is not a detector"
    )


def _test_inputs(detail: dict[str, Any]) -> list[np.ndarray]:
    """A mid-grey picture and seeded noise, in the input's own type."""
    shape = tuple(int(n) for n in detail["shape"])
    dtype = np.dtype(detail["dtype"])
    noise = np.random.default_rng(7).random(shape)
    if dtype.kind == "f":
        return [np.zeros(shape, dtype), (noise * 2 - 1).astype(dtype)]
    info = np.iinfo(dtype)
    middle = (int(info.min) + int(info.max) + 1) // 2
    return [
        np.full(shape, middle, dtype),
        (info.min + noise * (int(info.max) - int(info.min))).astype(dtype),
    ]

"""The model, inspected once at start-up: its input, its labels, what it is.

``inspect_model`` runs in the main process before any worker starts, so a model that is not
an image classifier, or whose labels do not match its output, stops the appliance with one
clear line instead of failing in every worker later.  Workers run it through
``runner.open_model``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeeye.errors import ModelError
from edgeeye.inference.interpreter import load_interpreter

_NUMBERED = re.compile(r"^\s*(\d+)[\s:]+(.*\S)\s*$")


def load_labels(path: Path) -> tuple[str, ...]:
    """One label per line, index-aligned with the output; "N label" lines are accepted too."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"labels {path}: cannot read: {exc}") from exc
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ModelError(f"labels {path}: the file is empty")
    numbered = [_NUMBERED.match(line) for line in lines]
    if all(numbered):
        by_index = {int(m.group(1)): m.group(2) for m in numbered if m}
        return tuple(by_index.get(i, str(i)) for i in range(max(by_index) + 1))
    return tuple(lines)


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to run a model; small enough to hand to a spawned process."""

    name: str
    path: Path
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width)
    input_dtype: str  # "uint8", "int8" or "float32"
    threads: int


def inspect_model(path: Path, labels_path: Path, threads: int = 1) -> ModelSpec:
    """Load the model once, check it is an image classifier matching its labels."""
    interpreter = load_interpreter(path, threads)
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    if len(inputs) != 1:
        raise ModelError(f"model {path}: expects {len(inputs)} inputs; need one image tensor")
    shape = tuple(int(n) for n in inputs[0]["shape"])
    dtype = np.dtype(inputs[0]["dtype"]).name
    if (
        len(shape) != 4
        or shape[0] != 1
        or shape[3] != 3
        or dtype not in ("uint8", "int8", "float32")
    ):
        raise ModelError(
            f"model {path}: input is {list(shape)} {dtype}; need an image tensor"
            " [1, height, width, 3] of uint8, int8 or float32"
        )
    out_shape = [int(n) for n in outputs[0]["shape"]]
    classes = int(np.prod(out_shape))
    if out_shape[-1] != classes:
        raise ModelError(f"model {path}: output is {out_shape}; need one score per class")
    labels = load_labels(labels_path)
    if len(labels) != classes:
        raise ModelError(
            f"labels {labels_path}: has {len(labels)} labels but model {path.name} outputs"
            f" {classes} classes"
        )
    return ModelSpec(
        name=path.stem,
        path=path,
        labels=labels,
        input_size=(shape[1], shape[2]),
        input_dtype=dtype,
        threads=threads,
    )

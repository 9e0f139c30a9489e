"""The model, inspected once at start-up: its input, its labels, what it is.

``inspect_model`` runs in the main process before any worker starts, so a model that is not
an image classifier, or whose labels do not match its output, stops the appliance with one
clear line instead of failing in every worker later.  Workers run it through
``runner.open_model``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeeye.config.messages import clip, excerpt
from edgeeye.errors import ModelError
from edgeeye.inference.interpreter import load_interpreter

# ASCII only: Unicode's \s and \d would take U+0085 for a separator and "٣" for a number.
_NUMBERED = re.compile(r"^(\d+)[ \t:]+(.*\S)$", re.ASCII)
_BOM = b"\xef\xbb\xbf"
#: Far above any classifier's label file (ImageNet's is 10 kB, 1001 lines); a file past
#: these is not a labels file, and is not read further.
MAX_LABELS_BYTES = 1_000_000
MAX_LABELS = 100_000
#: Longer than any class name; labels go into every result and Home Assistant's UI.
MAX_LABEL_CHARS = 200
# Line breaks (Zl, Zp) as well as Cc: a label is one line of every message it is in.
_CONTROL = ("Cc", "Zl", "Zp")


def load_labels(path: Path) -> tuple[str, ...]:
    """One label per line, index-aligned with the output; "N label" lines are accepted too.

    Lines are split on LF (CRLF too); a UTF-8 BOM is skipped.  A label with a control
    character, one over ``MAX_LABEL_CHARS``, bytes that are not UTF-8, or a file past
    ``MAX_LABELS_BYTES`` or ``MAX_LABELS`` lines is refused with the file and its line.
    """
    lines = [line.removesuffix("\r").strip(" \t") for line in _read_labels(path).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ModelError(f"labels {path}: the file is empty")
    if len(lines) > MAX_LABELS:
        raise ModelError(f"labels {path}: more than {MAX_LABELS:,} lines")
    numbered = [match for line in lines if (match := _NUMBERED.match(line))]
    if len(numbered) == len(lines):
        by_index: dict[int, str] = {}
        for number, match in enumerate(numbered, 1):
            digits, label = match.groups()
            if len(digits) > len(str(MAX_LABELS)) or int(digits) >= MAX_LABELS:
                raise ModelError(
                    f"labels {path}: line {number}: label number {clip(digits, 12)}"
                    f" is over {MAX_LABELS - 1}"
                )
            by_index[int(digits)] = _checked(path, number, label)
        return tuple(by_index.get(i, str(i)) for i in range(max(by_index) + 1))
    return tuple(_checked(path, number, line) for number, line in enumerate(lines, 1))


def _read_labels(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_LABELS_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ModelError(f"labels {path}: cannot read: {exc}") from exc
    if len(data) > MAX_LABELS_BYTES:
        raise ModelError(f"labels {path}: larger than {MAX_LABELS_BYTES:,} bytes")
    data = data.removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ModelError(f"labels {path}: line {line}: not UTF-8 text") from None


def _checked(path: Path, number: int, label: str) -> str:
    """``label`` from line ``number``, if it can go into a one-line message or payload."""
    for char in label:
        if unicodedata.category(char) in _CONTROL:
            raise ModelError(
                f"labels {path}: line {number}: control character U+{ord(char):04X}"
                f" in {excerpt(label)}"
            )
    if len(label) > MAX_LABEL_CHARS:
        raise ModelError(
            f"labels {path}: line {number}: label longer than {MAX_LABEL_CHARS} characters:"
            f" {excerpt(label)}"
        )
    return label


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

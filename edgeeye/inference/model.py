"""The model, inspected once at start-up: its input, its labels, what it is.

``inspect_model`` runs in the main process before any worker starts, so a model that is not
an image classifier or detector, or whose labels do not match its output, stops the
appliance with one clear line instead of failing in every worker later.  Workers run it
through ``runner.open_model``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeeye.config.excerpts import clip, excerpt
from edgeeye.errors import ModelError
from edgeeye.inference.detection_outputs import DetectionOutputs, find_detection_outputs
from edgeeye.inference.interpreter import load_interpreter
from edgeeye.inference.metadata import (
    ModelMetadata,
    Normalization,
    read_associated_file,
    read_metadata,
)
from edgeeye.inference.results import Task

if TYPE_CHECKING:
    from edgeeye.config.sections import TaskChoice

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
    return parse_labels(str(path), _read_labels(path))


def parse_labels(path: str, data: bytes) -> tuple[str, ...]:
    """``load_labels`` of bytes read elsewhere (a labels file packed inside a model)."""
    if len(data) > MAX_LABELS_BYTES:
        raise ModelError(f"labels {path}: larger than {MAX_LABELS_BYTES:,} bytes")
    lines = [line.removesuffix("\r").strip(" \t") for line in _decoded(path, data).split("\n")]
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


def _read_labels(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(MAX_LABELS_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ModelError(f"labels {path}: cannot read: {exc}") from exc


def _decoded(path: str, data: bytes) -> str:
    data = data.removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ModelError(f"labels {path}: line {line}: not UTF-8 text") from None


def _checked(path: str, number: int, label: str) -> str:
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


#: A float model that says nothing of its input gets [-1, 1], the convention of the
#: TensorFlow image models (MobileNet, EfficientNet-Lite) that carry no metadata.
DEFAULT_FLOAT_NORMALIZATION = Normalization(mean=(127.5,), std=(127.5,))


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to run a model; small enough to hand to a spawned process."""

    name: str
    path: Path
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width)
    input_dtype: str  # "uint8", "int8" or "float32"
    threads: int
    #: The model's own (from its metadata), else None: see ``InputConversion`` for the rule.
    normalization: Normalization | None = None
    #: The input tensor's (scale, zero point); (0.0, 0) for a float input.
    input_quantization: tuple[float, int] = (0.0, 0)
    #: Where the labels came from: the labels file, or ``model.tflite:labels.txt``.
    labels_origin: str = ""
    task: Task = Task.CLASSIFY
    #: A detector's: which output is which.
    detection_outputs: DetectionOutputs | None = None
    #: A detector's ``classify_detections`` model, inspected with it.
    box_classifier: ModelSpec | None = None


def inspect_model(
    path: Path, labels_path: Path | None, threads: int = 1, task: TaskChoice = "auto"
) -> ModelSpec:
    """Load the model once, check it is an image classifier or detector matching its labels.

    Without ``labels_path`` the labels come from the model's metadata (a labels file packed
    in the model); a model without them is refused with one line.
    """
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
    try:
        metadata = read_metadata(path, path.read_bytes())
    except OSError as exc:
        raise ModelError(f"model {path}: cannot read: {exc}") from exc
    detection = None
    if task != "classify":
        names = metadata.output_names if metadata else ()
        detection = find_detection_outputs(path, interpreter, names)
        if detection is None and task == "detect":
            raise ModelError(
                f"model {path}: outputs {_shapes(outputs)} are not a detector's (boxes"
                " [1, N, 4], classes [1, N], scores [1, N], count [1]); model.task is detect"
            )
    origin, labels = _labels(path, labels_path, metadata)
    if detection is None:
        classes = _classifier_classes(path, outputs)
        if len(labels) != classes:
            raise ModelError(
                f"labels {origin}: has {len(labels)} labels but model {path.name} outputs"
                f" {classes} classes"
            )
    scale, zero = inputs[0].get("quantization", (0.0, 0))
    return ModelSpec(
        name=path.stem,
        path=path,
        labels=labels,
        input_size=(shape[1], shape[2]),
        input_dtype=dtype,
        threads=threads,
        normalization=metadata.normalization if metadata else None,
        input_quantization=(float(scale), int(zero)),
        labels_origin=origin,
        task=Task.CLASSIFY if detection is None else Task.DETECT,
        detection_outputs=detection,
    )


def describe(spec: ModelSpec) -> str:
    """One line on what the model is taken for, for ``check-config`` and the log."""
    height, width = spec.input_size
    what = "a classifier"
    if spec.detection_outputs is not None:
        what = f"a detector (outputs told apart by {spec.detection_outputs.found_by})"
    return (
        f"model {spec.path}: {what}, input {width}x{height} {spec.input_dtype},"
        f" {len(spec.labels)} labels from {spec.labels_origin}"
    )


def _shapes(outputs: list[dict[str, Any]]) -> str:
    return ", ".join(str([int(n) for n in detail["shape"]]) for detail in outputs)


def _classifier_classes(path: Path, outputs: list[dict[str, Any]]) -> int:
    """How many classes a classifier scores; refuses outputs that are not one score each."""
    out_shape = [int(n) for n in outputs[0]["shape"]]
    classes = int(np.prod(out_shape))
    if len(outputs) != 1 or out_shape[-1] != classes:
        raise ModelError(
            f"model {path}: outputs {_shapes(outputs)}; need one score per class (a"
            " classifier) or boxes, classes, scores and count (a detector)"
        )
    return classes


def _labels(
    path: Path, labels_path: Path | None, metadata: ModelMetadata | None
) -> tuple[str, tuple[str, ...]]:
    """(where they came from, the labels): the file given, else the model's own."""
    if labels_path is not None:
        return str(labels_path), load_labels(labels_path)
    if metadata is not None and metadata.labels_file:
        origin = f"{path}:{metadata.labels_file}"
        return origin, parse_labels(origin, read_associated_file(path, metadata.labels_file))
    raise ModelError(
        f"model {path}: holds no labels in its metadata; set model.labels to its labels file"
    )

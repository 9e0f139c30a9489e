"""What a .tflite says about itself: TFLite metadata (labels, normalisation, name).

A model made with TFLite's metadata writers carries a ``TFLITE_METADATA`` buffer (a
``ModelMetadata`` FlatBuffer, identifier ``M001``) and is also a zip holding the files that
metadata names, such as the labels.  ``read_metadata`` returns None for a model without
it.  Field numbers follow TensorFlow Lite's ``schema.fbs`` and ``metadata_schema.fbs``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgeeye.errors import ModelError
from edgeeye.inference.flatbuffer import FlatbufferError, Table

_METADATA_NAME = "TFLITE_METADATA"
# schema.fbs: Model.buffers = 4, Model.metadata = 6; Metadata.name = 0, .buffer = 1;
# Buffer.data = 0, .offset = 1, .size = 2 (models over 2 GB keep data outside).
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
# metadata_schema.fbs.
_MM_NAME, _MM_SUBGRAPHS = 0, 3
_SG_INPUTS, _SG_OUTPUTS = 2, 3
_TM_NAME, _TM_PROCESS_UNITS, _TM_FILES = 0, 4, 6
_PU_OPTIONS_TYPE, _PU_OPTIONS = 0, 1
_NORMALIZATION_OPTIONS = 1
_NO_MEAN, _NO_STD = 0, 1
_AF_NAME, _AF_TYPE = 0, 2
# AssociatedFileType: a classifier's labels are AXIS labels (one per output element), a
# detector's VALUE labels (one per class id its classes output holds).
_LABEL_FILE_TYPES = (2, 3)
#: Labels inside a model are read at most this far (the labels loader's own limit).
_MAX_ASSOCIATED_BYTES = 1_000_000


@dataclass(frozen=True)
class Normalization:
    """``(pixel - mean) / std`` per channel (one value means all channels)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class ModelMetadata:
    name: str | None
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    normalization: Normalization | None
    labels_file: str | None  # inside the model's zip


def read_metadata(path: Path, model_bytes: bytes) -> ModelMetadata | None:
    """The model's metadata, or None when it has none; a damaged one is a ``ModelError``."""
    try:
        blob = _metadata_blob(model_bytes)
        return None if blob is None else _parse(blob)
    except FlatbufferError as exc:
        raise ModelError(f"model {path}: its TFLite metadata is damaged: {exc}") from None


def _metadata_blob(model_bytes: bytes) -> bytes | None:
    model = Table.root(model_bytes)
    buffers = model.tables(_MODEL_BUFFERS)
    for entry in model.tables(_MODEL_METADATA):
        if entry.string(0) != _METADATA_NAME:
            continue
        index = entry.u32(1)
        if index >= len(buffers):
            raise FlatbufferError(f"metadata names buffer {index} of {len(buffers)}")
        buffer = buffers[index]
        data = buffer.bytes(0)
        if not data and buffer.u64(1):
            start, size = buffer.u64(1), buffer.u64(2)
            data = model_bytes[start : start + size]
        return data or None
    return None


def _parse(blob: bytes) -> ModelMetadata:
    root = Table.root(blob)
    subgraphs = root.tables(_MM_SUBGRAPHS)
    inputs = subgraphs[0].tables(_SG_INPUTS) if subgraphs else []
    outputs = subgraphs[0].tables(_SG_OUTPUTS) if subgraphs else []
    normalization = None
    for unit in inputs[0].tables(_TM_PROCESS_UNITS) if inputs else []:
        options = unit.table(_PU_OPTIONS)
        if unit.u8(_PU_OPTIONS_TYPE) == _NORMALIZATION_OPTIONS and options is not None:
            normalization = Normalization(options.floats(_NO_MEAN), options.floats(_NO_STD))
    labels = None
    for output in outputs:
        for associated in output.tables(_TM_FILES):
            if associated.u8(_AF_TYPE) in _LABEL_FILE_TYPES and labels is None:
                labels = associated.string(_AF_NAME)
    return ModelMetadata(
        name=root.string(_MM_NAME),
        input_names=tuple(t.string(_TM_NAME) or "" for t in inputs),
        output_names=tuple(t.string(_TM_NAME) or "" for t in outputs),
        normalization=normalization,
        labels_file=labels,
    )


def read_associated_file(path: Path, name: str) -> bytes:
    """A file packed into the model (the model is also a zip), e.g. its labels."""
    try:
        with zipfile.ZipFile(path) as packed:
            info = packed.getinfo(name)
            if info.file_size > _MAX_ASSOCIATED_BYTES:
                raise ModelError(
                    f"model {path}: {name} inside it is larger than {_MAX_ASSOCIATED_BYTES:,} bytes"
                )
            return packed.read(info)
    except KeyError:
        raise ModelError(
            f"model {path}: its metadata names {name}, which it does not hold"
        ) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"model {path}: cannot read {name} inside it: {exc}") from None

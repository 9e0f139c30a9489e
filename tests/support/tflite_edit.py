"""Test models made from the real ones in the test data: TFLite metadata written, an input
of another type put in front (a QUANTIZE op), metadata removed.  The flatbuffer is edited
with the schema code LiteRT ships (``ai_edge_litert.schema_py_generated``) and the
``flatbuffers`` package; nothing is downloaded and no interpreter is faked."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest

schema: Any = pytest.importorskip(
    "ai_edge_litert.schema_py_generated", reason="needs the schema code LiteRT ships"
)

_TYPES = {"float32": 0, "uint8": 3, "int8": 9}
_QUANTIZE = 114


def load(path: Path) -> Any:
    return schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)


def save(model: Any, path: Path, packed: dict[str, bytes] | None = None) -> Path:
    """Write ``model``; ``packed`` files are zipped onto its end, as metadata writers do."""
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    if packed:
        with zipfile.ZipFile(path, "a") as archive:
            for name, data in packed.items():
                archive.writestr(name, data)
    return path


def without_metadata(model: Any) -> Any:
    model.metadata = [m for m in model.metadata or [] if m.name != b"TFLITE_METADATA"]
    return model


def set_metadata(model: Any, blob: bytes) -> Any:
    (entry,) = [m for m in model.metadata if m.name == b"TFLITE_METADATA"]
    model.buffers[entry.buffer].data = np.frombuffer(blob, np.uint8)
    return model


def metadata_blob(
    mean: list[float] | None, std: list[float] | None, labels_file: str | None
) -> bytes:
    """A ``ModelMetadata`` (metadata_schema.fbs): input "image" with NormalizationOptions,
    output "probability" with a TENSOR_AXIS_LABELS file."""
    b = flatbuffers.Builder(256)

    def offsets(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    def floats(values: list[float]) -> int:
        b.StartVector(4, len(values), 4)
        for value in reversed(values):
            b.PrependFloat32(value)
        return b.EndVector()

    units = []
    if mean is not None and std is not None:
        mean_at, std_at = floats(mean), floats(std)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, mean_at, 0)
        b.PrependUOffsetTRelativeSlot(1, std_at, 0)
        options = b.EndObject()
        b.StartObject(2)
        b.PrependUint8Slot(0, 1, 0)  # ProcessUnitOptions.NormalizationOptions
        b.PrependUOffsetTRelativeSlot(1, options, 0)
        units.append(b.EndObject())
    units_at = offsets(units)
    image = b.CreateString("image")
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, image, 0)
    b.PrependUOffsetTRelativeSlot(4, units_at, 0)
    tensor_in = b.EndObject()
    files = []
    if labels_file is not None:
        name = b.CreateString(labels_file)
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependInt8Slot(2, 2, 0)  # AssociatedFileType.TENSOR_AXIS_LABELS
        files.append(b.EndObject())
    files_at = offsets(files)
    probability = b.CreateString("probability")
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, probability, 0)
    b.PrependUOffsetTRelativeSlot(6, files_at, 0)
    tensor_out = b.EndObject()
    inputs, outputs = offsets([tensor_in]), offsets([tensor_out])
    b.StartObject(9)
    b.PrependUOffsetTRelativeSlot(2, inputs, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs, 0)
    subgraph = b.EndObject()
    subgraphs = offsets([subgraph])
    model_name = b.CreateString("ImageClassifier")
    b.StartObject(8)
    b.PrependUOffsetTRelativeSlot(0, model_name, 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.Finish(b.EndObject(), file_identifier=b"M001")
    return bytes(b.Output())


def with_input(model: Any, dtype: str, scale: float = 0.0, zero: int = 0) -> Any:
    """A new ``dtype`` input in front of the model's own, converted by a QUANTIZE op."""
    graph = model.subgraphs[0]
    old = graph.inputs[0]
    tensor = schema.TensorT()
    tensor.shape = np.array(graph.tensors[old].shape, np.int32)
    tensor.type = _TYPES[dtype]
    tensor.name = b"image_" + dtype.encode()
    tensor.buffer = 0  # the empty buffer every model has first
    if scale:
        quantization = schema.QuantizationParametersT()
        quantization.scale = [scale]
        quantization.zeroPoint = [zero]
        tensor.quantization = quantization
    graph.tensors.append(tensor)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = _QUANTIZE
    code.version = 2
    model.operatorCodes.append(code)
    operator = schema.OperatorT()
    operator.opcodeIndex = len(model.operatorCodes) - 1
    operator.inputs = np.array([len(graph.tensors) - 1], np.int32)
    operator.outputs = np.array([old], np.int32)
    graph.operators.insert(0, operator)
    graph.inputs = np.array([len(graph.tensors) - 1], np.int32)
    return model

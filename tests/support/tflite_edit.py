"""Test models made from the real ones in the test data: TFLite metadata written, an input
of another type put in front (a QUANTIZE op), metadata removed, outputs reordered or
renamed (a detector as TF2 exports it).  The flatbuffer is edited
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
    """``blob`` as the model's TFLite metadata, replacing its own or added as a new buffer."""
    entries = [m for m in model.metadata or [] if m.name == b"TFLITE_METADATA"]
    if not entries:
        buffer = schema.BufferT()
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = b"TFLITE_METADATA", len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
        entries = [entry]
    model.buffers[entries[0].buffer].data = np.frombuffer(blob, np.uint8)
    return model


def permute_outputs(model: Any, order: list[int]) -> Any:
    """The subgraph's outputs listed in ``order`` (positions in the current list)."""
    graph = model.subgraphs[0]
    graph.outputs = np.array([graph.outputs[i] for i in order], np.int32)
    return model


def rename_outputs(model: Any, names: list[str]) -> Any:
    """The output tensors, in the subgraph's order, renamed."""
    graph = model.subgraphs[0]
    for tensor_index, name in zip(graph.outputs, names, strict=True):
        graph.tensors[tensor_index].name = name.encode()
    return model


def metadata_blob(
    mean: list[float] | None,
    std: list[float] | None,
    labels_file: str | None,
    outputs: tuple[str, ...] = ("probability",),
    labels_on: int = 0,
) -> bytes:
    """A ``ModelMetadata`` (metadata_schema.fbs): input "image" with NormalizationOptions,
    and ``outputs`` named in order; ``labels_file`` goes on output ``labels_on``, as
    TENSOR_AXIS_LABELS for a classifier ("probability") or TENSOR_VALUE_LABELS else."""
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
    tensors_out = []
    for position, output in enumerate(outputs):
        files = []
        if labels_file is not None and position == labels_on:
            name = b.CreateString(labels_file)
            b.StartObject(5)
            b.PrependUOffsetTRelativeSlot(0, name, 0)
            # AssociatedFileType.TENSOR_AXIS_LABELS (2) or TENSOR_VALUE_LABELS (3)
            b.PrependInt8Slot(2, 2 if output == "probability" else 3, 0)
            files.append(b.EndObject())
        files_at = offsets(files)
        output_name = b.CreateString(output)
        b.StartObject(7)
        b.PrependUOffsetTRelativeSlot(0, output_name, 0)
        b.PrependUOffsetTRelativeSlot(6, files_at, 0)
        tensors_out.append(b.EndObject())
    inputs_at, outputs_at = offsets([tensor_in]), offsets(tensors_out)
    b.StartObject(9)
    b.PrependUOffsetTRelativeSlot(2, inputs_at, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs_at, 0)
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

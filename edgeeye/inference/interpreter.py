"""Pick the TFLite interpreter: ``ai-edge-litert`` if it imports, else ``tflite-runtime``.

LiteRT is the maintained successor and works with numpy 2; tflite-runtime still runs on
older Pi images (it needs numpy<2).  Everything else in edgeeye calls ``load_interpreter``
and never imports either package itself.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgeeye.errors import ModelError

if TYPE_CHECKING:
    # Not at run time: the CLI imports this module to start the child server, before it
    # has imported numpy (which the server imports in parallel).
    import numpy as np


class Interpreter(Protocol):
    """What edgeeye uses of a TFLite interpreter (both packages have the same API, untyped)."""

    def allocate_tensors(self) -> None: ...

    def get_input_details(self) -> list[dict[str, Any]]: ...

    def get_output_details(self) -> list[dict[str, Any]]: ...

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def get_tensor(self, tensor_index: int) -> np.ndarray: ...


#: Candidate (module, distribution) pairs, most preferred first.
RUNTIMES: tuple[tuple[str, str], ...] = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
)


def runtime_module() -> str | None:
    """The module ``interpreter_class`` would import, found without importing it (so the
    child server can import it once for every worker), or None when neither is installed."""
    for module_name, _ in RUNTIMES:
        package = module_name.partition(".")[0]
        try:
            if importlib.util.find_spec(package) is not None:
                return module_name
        except (ImportError, ValueError):
            continue
    return None


def interpreter_class(runtimes: tuple[tuple[str, str], ...] = RUNTIMES) -> tuple[type, str]:
    """The first importable ``Interpreter`` class and the name of its distribution."""
    reasons = []
    for module_name, distribution in runtimes:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            reasons.append(f"{distribution}: {exc}")
            continue
        return module.Interpreter, distribution
    raise ModelError(
        "no TFLite interpreter is installed (pip install ai-edge-litert, or tflite-runtime"
        " with numpy<2): " + "; ".join(reasons)
    )


def load_interpreter(model_path: Path, threads: int = 1) -> Interpreter:
    """An interpreter with tensors allocated, or ``ModelError`` naming the model file."""
    cls, _ = interpreter_class()
    try:
        interpreter: Interpreter = cls(model_path=str(model_path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model {model_path}: cannot load: {first_line}") from exc
    return interpreter

"""A small, bounds-checked reader of FlatBuffers tables: what edgeeye reads of a .tflite.

The TFLite runtimes do not expose a model's metadata, and the generated schema code is not
in every runtime package (tflite-runtime has none), so the few fields edgeeye needs are read
here.  Every offset is checked against the buffer: a damaged or hostile file raises
``FlatbufferError`` instead of reading out of bounds or looping.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class FlatbufferError(ValueError):
    """The bytes are not the FlatBuffer they claim to be."""


@dataclass(frozen=True)
class Table:
    data: bytes
    position: int

    @classmethod
    def root(cls, data: bytes) -> Table:
        return cls(data, _u32(data, 0))

    def _slot(self, index: int) -> int | None:
        """Where field ``index`` is stored, or None when absent (its default applies)."""
        vtable = self.position - _i32(self.data, self.position)
        vtable_size = _u16(self.data, vtable)
        entry = 4 + 2 * index
        if entry + 2 > vtable_size:
            return None
        offset = _u16(self.data, vtable + entry)
        return self.position + offset if offset else None

    def _target(self, index: int) -> int | None:
        slot = self._slot(index)
        return None if slot is None else slot + _u32(self.data, slot)

    def u8(self, index: int, default: int = 0) -> int:
        slot = self._slot(index)
        return default if slot is None else _unpack("<B", self.data, slot)

    def u32(self, index: int, default: int = 0) -> int:
        slot = self._slot(index)
        return default if slot is None else _u32(self.data, slot)

    def u64(self, index: int, default: int = 0) -> int:
        slot = self._slot(index)
        return default if slot is None else _unpack("<Q", self.data, slot)

    def string(self, index: int) -> str | None:
        target = self._target(index)
        if target is None:
            return None
        raw = _bytes_at(self.data, target)
        return raw.decode("utf-8", errors="replace")

    def table(self, index: int) -> Table | None:
        target = self._target(index)
        return None if target is None else Table(self.data, target)

    def tables(self, index: int) -> list[Table]:
        target = self._target(index)
        if target is None:
            return []
        count = _vector_length(self.data, target, 4)
        items = (target + 4 + 4 * i for i in range(count))
        return [Table(self.data, item + _u32(self.data, item)) for item in items]

    def bytes(self, index: int) -> bytes:
        target = self._target(index)
        return b"" if target is None else _bytes_at(self.data, target)

    def floats(self, index: int) -> tuple[float, ...]:
        target = self._target(index)
        if target is None:
            return ()
        count = _vector_length(self.data, target, 4)
        return struct.unpack_from(f"<{count}f", self.data, target + 4)


def _unpack(fmt: str, data: bytes, at: int) -> int:
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        raise FlatbufferError(f"offset {at} is outside the {len(data)} bytes")
    value: int = struct.unpack_from(fmt, data, at)[0]
    return value


def _u16(data: bytes, at: int) -> int:
    return _unpack("<H", data, at)


def _u32(data: bytes, at: int) -> int:
    return _unpack("<I", data, at)


def _i32(data: bytes, at: int) -> int:
    return _unpack("<i", data, at)


def _vector_length(data: bytes, at: int, item_size: int) -> int:
    count = _u32(data, at)
    if at + 4 + count * item_size > len(data):
        raise FlatbufferError(f"a vector at {at} of {count} items runs past the end")
    return count


def _bytes_at(data: bytes, at: int) -> bytes:
    count = _vector_length(data, at, 1)
    return data[at + 4 : at + 4 + count]

"""A picamera2 ``Allocator`` whose buffers are memfds, for kernels without a dma-heap.

picamera2 allocates every capture buffer from ``/dev/dma_heap`` (``DmaAllocator``).  The
CI kernel is built without ``CONFIG_DMABUF_HEAPS`` (and without udmabuf), so there::

    RuntimeError: Could not open any dmaHeap device

libcamera's own ``FrameBufferAllocator`` fails on the virtual pipeline for the same reason
(``Could not open any dma-buf provider``, then ENOBUFS).  But the virtual pipeline handler
only ``mmap``s the buffers an application hands it, so anonymous shared memory is enough:
each buffer here is one memfd, described to libcamera plane by plane (NV12, the virtual
camera's only format, has a Y and an interleaved UV plane; its generator writes into each).
picamera2 reads the frames through the same mappings (``Sync``), as it does dma-bufs.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from typing import Any

import libcamera
from picamera2.allocators.allocator import Allocator, Sync


def plane_lengths(pixel_format: str, stride: int, height: int, frame_size: int) -> list[int]:
    """The bytes of each plane of one frame, in memory order."""
    chroma_rows = (height + 1) // 2
    if pixel_format in ("NV12", "NV21"):  # Y, then interleaved UV at half height
        return [stride * height, stride * chroma_rows]
    if pixel_format in ("YUV420", "YVU420"):  # Y, then U and V at half width and height
        chroma = (stride // 2) * chroma_rows
        return [stride * height, chroma, chroma]
    return [frame_size]  # packed formats: one plane


class MemfdAllocator(Allocator):  # type: ignore[misc]  # picamera2 has no type information
    """``Allocator`` with one memfd per buffer, mapped once for the buffer's lifetime."""

    def __init__(self) -> None:
        super().__init__()
        self.sync = MemfdSync
        self.frame_buffers: dict[Any, list[Any]] = {}  # stream -> its libcamera FrameBuffers
        self.maps: dict[Any, mmap.mmap] = {}  # FrameBuffer -> its mapping
        self._fds: list[int] = []

    def allocate(self, libcamera_config: Any, _use_case: Any) -> None:
        """Buffers for every stream of a configuration (each ``configure()`` calls this)."""
        self.close()
        for stream_config in libcamera_config:
            lengths = plane_lengths(
                str(stream_config.pixel_format),
                stream_config.stride,
                stream_config.size.height,
                stream_config.frame_size,
            )
            self.frame_buffers[stream_config.stream] = [
                self._buffer(f"picamera2-{index}", stream_config.frame_size, lengths)
                for index in range(stream_config.buffer_count)
            ]

    def _buffer(self, name: str, size: int, lengths: list[int]) -> Any:
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        self._fds.append(fd)  # libcamera keeps its own duplicate
        os.ftruncate(fd, size)
        planes, offset = [], 0
        for length in lengths:
            plane = libcamera.FrameBuffer.Plane()
            plane.fd, plane.offset, plane.length = fd, offset, length
            planes.append(plane)
            offset += length
        buffer = libcamera.FrameBuffer(planes)
        self.maps[buffer] = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        return buffer

    def buffers(self, stream: Any) -> list[Any]:
        return self.frame_buffers[stream]

    def close(self) -> None:
        """Forget every buffer (``configure()`` again, ``Picamera2.close()``)."""
        for mapping in self.maps.values():
            # An array picamera2 handed out may still view it; it then goes when that does.
            with contextlib.suppress(BufferError):
                mapping.close()
        for fd in self._fds:
            os.close(fd)
        self.maps, self._fds, self.frame_buffers = {}, [], {}


class MemfdSync(Sync):  # type: ignore[misc]
    """What picamera2 reads a buffer through: the mapping itself (memfds need no cache
    maintenance, unlike a dma-buf's DMA_BUF_IOCTL_SYNC)."""

    def __init__(self, allocator: MemfdAllocator, buffer: Any, _write: bool) -> None:
        self._mapping = allocator.maps[buffer]

    def __enter__(self) -> mmap.mmap:
        return self._mapping

    def __exit__(self, *_exc: object) -> None:
        pass

    def get_buffer(self) -> mmap.mmap:
        return self._mapping

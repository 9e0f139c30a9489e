"""A POSIX shared-memory segment with an explicit owner: the frame ring and the snapshot board.

The main process ``create``s a segment (reserving its memory at once, so a full /dev/shm
fails there with one line rather than as a SIGBUS later) and alone removes it; children
``attach`` by name and only unmap.  Names carry the creator's pid
(``edgeeye_<pid>_<kind><hex>``), so ``remove_stale_segments`` can clear what a run killed
with SIGKILL left behind: under systemd /dev/shm outlives the service.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from multiprocessing import shared_memory
from pathlib import Path

from edgeeye.errors import ResourceError

SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "edgeeye_"


class Segment:
    """One process's mapping of a segment; ``buffer`` is valid until ``close``."""

    def __init__(
        self,
        name: str,
        buffer: memoryview,
        owner: shared_memory.SharedMemory | None = None,
        mapping: mmap.mmap | None = None,
    ) -> None:
        self.name = name
        self.buffer: memoryview | None = buffer
        self._owner = owner  # the creating process only
        self._mapping = mapping  # attached processes only
        self._unlinked = False

    @classmethod
    def create(cls, kind: str, size: int, purpose: str, advice: str = "") -> Segment:
        """A new segment of ``size`` bytes, its memory reserved now.

        ``purpose`` ("the frame ring") and ``advice`` name it in the error if /dev/shm is
        too small."""
        check_shm_space(size, purpose, advice)
        name = f"{SEGMENT_PREFIX}{os.getpid()}_{kind}{secrets.token_hex(4)}"
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        try:
            # tmpfs allocates lazily: without this, running out of /dev/shm is a SIGBUS later.
            # SharedMemory keeps its descriptor private on 3.11; it is the only way to it.
            os.posix_fallocate(shm._fd, 0, size)  # type: ignore[attr-defined]
        except OSError as exc:
            shm.close()
            shm.unlink()
            raise ResourceError(
                f"/dev/shm: cannot reserve {size} bytes for {purpose}: {exc.strerror}"
            ) from exc
        buffer = shm.buf
        if buffer is None:  # typeshed allows it; a new segment is always mapped
            raise ResourceError(f"/dev/shm: {name}: created but not mapped")
        return cls(name, buffer, owner=shm)

    @classmethod
    def attach(cls, name: str, size: int) -> Segment:
        """Map an existing segment; an attached process never removes it (the owner does)."""
        fd = os.open(SHM_DIR / name, os.O_RDWR)
        try:
            mapping = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        return cls(name, memoryview(mapping), mapping=mapping)

    @property
    def view(self) -> memoryview:
        """The mapped bytes; an error once closed."""
        if self.buffer is None:
            raise ValueError(f"shared-memory segment {self.name} is closed")
        return self.buffer

    def unlink(self) -> None:
        """Remove the name (owner only); mappings stay valid until closed.  Safe twice."""
        if self._owner is not None and not self._unlinked:
            self._unlinked = True
            with contextlib.suppress(FileNotFoundError):
                self._owner.unlink()

    def close(self) -> None:
        """Unmap; the owner also removes the segment.  Safe twice.

        Call after dropping every numpy view of ``buffer``."""
        if self.buffer is None:
            return
        buffer, self.buffer = self.buffer, None
        if self._owner is not None:
            del buffer
            self._owner.close()
            self.unlink()
            return
        buffer.release()
        if self._mapping is not None:
            # BufferError: a view is still alive; the mapping goes with the process.
            with contextlib.suppress(BufferError):
                self._mapping.close()


def check_shm_space(size: int, purpose: str = "the frame ring", advice: str = "") -> None:
    stats = os.statvfs(SHM_DIR)
    available = stats.f_bavail * stats.f_frsize
    if size > available:
        raise ResourceError(
            f"/dev/shm: {purpose} needs {size / 2**20:.1f} MiB but only"
            f" {available / 2**20:.1f} MiB are free ({advice or 'enlarge /dev/shm'})"
        )


def remove_stale_segments() -> list[str]:
    """Unlink segments left by edgeeye runs that died without cleaning up."""
    removed = []
    for path in SHM_DIR.glob(f"{SEGMENT_PREFIX}*"):
        try:
            pid = int(path.name.removeprefix(SEGMENT_PREFIX).split("_")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _is_edgeeye_process(pid):
            try:
                path.unlink()
                removed.append(path.name)
            except FileNotFoundError:
                pass
    return removed


def _is_edgeeye_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"edgeeye" in cmdline

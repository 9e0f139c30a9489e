"""What a download reports while it runs: a small protocol, and the terminal meter for it.

``zoo.pull`` calls a ``DownloadProgress``; ``TerminalProgress`` draws one line that it
rewrites in place (bytes, rate, time left) when its stream is a terminal, and writes nothing
otherwise, so logs and pipes (systemd, Ansible, CI) get no carriage-return noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO

#: Redraws at most this often: a fast link delivers thousands of blocks a second.
REDRAW_INTERVAL_S = 0.1


class DownloadProgress(Protocol):
    def started(self, name: str, total: int | None) -> None: ...
    def advanced(self, done: int) -> None: ...
    def finished(self, ok: bool) -> None: ...


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def progress_line(name: str, done: int, total: int | None, elapsed_s: float) -> str:
    """``name  1.2 MB of 3.6 MB  850.0 kB/s  ETA 3 s`` (size and ETA only when known)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    amount = f"{_size(done)} of {_size(total)}" if total else _size(done)
    line = f"{name}  {amount}  {_size(rate)}/s"
    if total and rate > 0:
        line += f"  ETA {max(0.0, (total - done) / rate):.0f} s"
    return line


class TerminalProgress:
    """One self-rewriting line per file on a terminal; silent on anything else."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._enabled = stream.isatty()
        self._name = ""
        self._total: int | None = None
        self._started = self._drawn = 0.0
        self._done = 0

    def started(self, name: str, total: int | None) -> None:
        self._name, self._total, self._done = name, total, 0
        self._started = self._clock()
        self._drawn = float("-inf")

    def advanced(self, done: int) -> None:
        self._done = done
        now = self._clock()
        if now - self._drawn >= REDRAW_INTERVAL_S:
            self._drawn = now
            self._draw(now)

    def finished(self, ok: bool) -> None:
        self._draw(self._clock())
        if self._enabled:
            self._stream.write("  done\n" if ok else "  failed\n")
            self._stream.flush()

    def _draw(self, now: float) -> None:
        if self._enabled:
            line = progress_line(self._name, self._done, self._total, now - self._started)
            self._stream.write(f"\r{line}\033[K")
            self._stream.flush()

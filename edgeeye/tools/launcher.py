"""Start ``edgeeye`` as a child process, for the demo, the bench and the tests.

Not part of the appliance's run path: ``edgeeye run`` (and systemd's ExecStart) never
come through here.  It is the one place that spells out how another process starts it:
this Python's ``-m edgeeye``, so the child runs the same installation as the caller, and
``run`` in a session of its own, so its whole tree (supervisor, capture, workers,
multiprocessing's resource tracker) is one process group to watch, measure or kill, and
a Ctrl-C at the caller's terminal reaches the caller alone, which decides how to stop it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

#: A standard stream as ``subprocess`` takes it: PIPE, DEVNULL, a file, a descriptor, None.
Stream = int | IO[Any] | None


def edgeeye_command(*args: str) -> list[str]:
    """``python -m edgeeye <args>`` with the interpreter running now."""
    return [sys.executable, "-m", "edgeeye", *args]


def launch_run(
    config: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdout: Stream = None,
    stderr: Stream = None,
) -> subprocess.Popen[str]:
    """``edgeeye run --config <config> <args>`` started in its own session (its pid is the
    session and group id), with this process's environment plus ``env``; text output."""
    return subprocess.Popen(
        edgeeye_command("run", "--config", str(config), *args),
        stdout=stdout,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def terminate(process: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if ``process`` is still there after ``timeout`` s; reaped."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)

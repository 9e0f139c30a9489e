"""The supervisor's handles on its child processes: what they are, how to stop them in time."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerProcess

log = logging.getLogger(__name__)


@dataclass
class Child:
    """A capture or worker process and our end of the pipe it reports on."""

    process: ForkServerProcess
    connection: Connection  # results (worker) or errors (capture)


def stop_process(process: ForkServerProcess, timeout: float) -> None:
    """Join for ``timeout`` seconds, then kill: shutdown never waits without a limit."""
    if process.pid is None:
        return
    process.join(max(0.0, timeout))
    if process.is_alive():
        log.warning("%s did not stop in time; killing it", process.name)
        process.kill()
        process.join(2.0)


def exit_description(exitcode: int | None) -> str:
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"

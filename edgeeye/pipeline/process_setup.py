"""What every child process does first: one ``pre_run_setup`` for capture and workers."""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import logging.handlers
import multiprocessing
import os
import signal
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    #: The queue every child sends its log records on; the main process writes them out.
    LogQueue: TypeAlias = Queue[logging.LogRecord]

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1


def pre_run_setup(name: str, short_name: str, log_queue: LogQueue, log_level: str) -> None:
    """Name the process, send its logs to the parent, and tie its life to the parent's.

    ``name`` ("edgeeye.worker:0") is used in log lines; ``short_name`` (15 bytes at most,
    "edgeeye-w0") is what ``ps`` and ``top`` show.  Ctrl-C reaches the whole process group,
    but only the supervisor decides how to stop, so children ignore SIGINT.  If the
    supervisor is killed outright, the kernel kills its children (PDEATHSIG), so a
    ``kill -9`` of the main process never leaves orphans holding the camera.
    """
    multiprocessing.current_process().name = name
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, short_name.encode()[:15], 0, 0, 0)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: names and parent-death signals are a convenience there
    if os.getppid() != parent or parent == 1:
        os._exit(1)  # the parent died before PDEATHSIG was armed
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(log_queue))
    root.setLevel(log_level)

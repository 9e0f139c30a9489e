"""What every child process does first: one ``pre_run_setup`` for capture and workers."""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import logging
import logging.handlers
import multiprocessing
import multiprocessing.forkserver
import os
import signal
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    #: The queue every child sends its log records on; the main process writes them out.
    LogQueue: TypeAlias = Queue[logging.LogRecord]

log = logging.getLogger(__name__)

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1


def pre_run_setup(
    name: str, short_name: str, log_queue: LogQueue, log_level: str, main_pid: int
) -> None:
    """Name the process, send its logs to the parent, and tie its life to the parent's.

    ``name`` ("edgeeye.worker:0") is used in log lines; ``short_name`` (15 bytes at most,
    "edgeeye-w0") is what ``ps`` and ``top`` show.  Ctrl-C reaches the whole process group,
    but only the supervisor decides how to stop, so children ignore SIGINT.  If the
    supervisor is killed outright, the child server that forked us exits, and the kernel
    kills its children (PDEATHSIG), so a ``kill -9`` of the main process never leaves
    orphans holding the camera.
    """
    # What the child server imported is shared with every sibling until written; the
    # collector would write to each of those objects, so it leaves them alone.
    gc.freeze()
    _let_go_of_the_child_server()
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
    if os.getppid() != parent or parent == 1 or not _alive(main_pid):
        # Our parent (the child server) died before PDEATHSIG was armed, or the main
        # process did, which the server follows at once.
        os._exit(1)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(log_queue))
    root.setLevel(log_level)


def _let_go_of_the_child_server() -> None:
    """Close the child server's lifeline that forked children inherit.

    The server exits when the last holder of that pipe's write end has gone, and a child
    that keeps it (so it could fork through the server itself, which ours never do) would
    keep the server alive after the main process is killed, and the server would keep
    the child alive: both orphans.  multiprocessing offers no public way to this.
    """
    server = multiprocessing.forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        setattr(server, "_forkserver_alive_fd", None)  # noqa: B010  # private to CPython


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_free_memory() -> None:
    """Give the heap that loading left free back to the system (glibc keeps it otherwise):
    on a 512 MB Pi every process's few MiB count."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def worker_cpu(worker_id: int) -> int | None:
    """The core worker ``worker_id`` is pinned to: the usable cores in turn (None where the
    platform cannot pin)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores[worker_id % len(cores)]


def yield_to_workers() -> None:
    """Let this thread, and the threads it starts from now on, wait for a free core rather
    than preempt a worker mid-invoke (Linux's SCHED_BATCH: no preemption on wake-up, the
    same fair share of CPU).

    Capture and the main process wake for every frame and every result; each of those
    wake-ups used to land on a busy core and push a worker off it, and the worker then
    found its caches cold: about 700 preemptions a second per worker at two workers here.
    With both in SCHED_BATCH a woken capture or publisher runs on an idle core at once,
    and on a busy one at the worker's next slice boundary (a few milliseconds).  The
    workers keep the normal policy; the child server is started before the main process
    calls this, so they do not inherit it.
    """
    if not hasattr(os, "SCHED_BATCH"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as error:  # a seccomp filter or a container: the appliance still runs
        log.info(
            "scheduling policy SCHED_BATCH refused (%s): this process may preempt workers",
            error.strerror,
        )


def pin_to_cpu(cpu: int | None) -> None:
    """Keep this process on one core: a worker that the kernel moves between cores finds
    its interpreter's arena and weights in the other core's cache no longer, and the bench
    showed workers at 0.89-0.92 of the bare interpreter's pace unpinned."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as error:  # a core that went away (a cgroup change): unpinned still works
        log.info(
            "could not keep this process on core %d (%s): it runs unpinned", cpu, error.strerror
        )

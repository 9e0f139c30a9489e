"""How the appliance starts its children: forked from a server that has imported, once,
what capture and the workers run.

A child spawned afresh imports numpy, the interpreter and edgeeye again (a third of a
second, and its own copy of every module in memory); one forked from this server starts at
once and shares those pages with its siblings.  The server is a clean process started
before any camera or model is opened, so nothing ever forks with either open, and it exits
when the main process does (its pipe from us ends), taking no child with it that the
kernel's parent-death signal would not.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import ForkServerContext

from edgeeye.inference.interpreter import runtime_module

#: Imported by the server before its first fork: what every child would otherwise import
#: for itself after it.  ``edgeeye.cli`` and ``pkgutil`` because multiprocessing runs the
#: ``edgeeye`` script again in every child (as ``__mp_main__``); the other two when the
#: child unpickles its process object and queues; ``PIL.ImageFile`` on a worker's first
#: resize.
CHILD_MODULES = (
    "edgeeye.pipeline.capture",
    "edgeeye.pipeline.worker",
    "edgeeye.cli",
    "pkgutil",
    "multiprocessing.popen_forkserver",
    "multiprocessing.queues",
    "PIL.ImageFile",
)


def child_modules() -> list[str]:
    """What the server imports: ours, and the TFLite runtime the workers will load (which
    ``edgeeye.inference.interpreter`` imports only when a model is opened)."""
    runtime = runtime_module()
    return [*CHILD_MODULES, *([runtime] if runtime else [])]


def child_context() -> ForkServerContext:
    """The context every child of the appliance is made with."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(child_modules())
    return context


def start_child_server() -> None:
    """Start the server now, so its imports overlap the main process's own start."""
    child_context()
    multiprocessing.forkserver.ensure_running()

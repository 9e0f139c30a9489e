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

#: Imported by the server before its first fork.
CHILD_MODULES = ["edgeeye.pipeline.capture", "edgeeye.pipeline.worker"]


def child_context() -> ForkServerContext:
    """The context every child of the appliance is made with."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(CHILD_MODULES)
    return context


def start_child_server() -> None:
    """Start the server now, so its imports overlap the main process's own start."""
    child_context()
    multiprocessing.forkserver.ensure_running()

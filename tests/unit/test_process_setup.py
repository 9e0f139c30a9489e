"""What a child process does for itself before it runs (``edgeeye.pipeline.process_setup``)."""

from __future__ import annotations

import logging
import os

from edgeeye.pipeline.process_setup import pin_to_cpu


def test_a_core_that_cannot_be_had_is_said_and_the_process_runs_unpinned(caplog):
    before = os.sched_getaffinity(0)
    missing = max(os.cpu_count() or 1, 1024)  # beyond any core this machine has
    with caplog.at_level(logging.INFO, logger="edgeeye.pipeline.process_setup"):
        pin_to_cpu(missing)
    assert os.sched_getaffinity(0) == before
    assert [r.getMessage() for r in caplog.records] == [
        f"could not keep this process on core {missing} (Invalid argument): it runs unpinned"
    ]


def test_a_core_it_may_have_is_kept():
    before = os.sched_getaffinity(0)
    core = min(before)
    try:
        pin_to_cpu(core)
        assert os.sched_getaffinity(0) == {core}
    finally:
        os.sched_setaffinity(0, before)

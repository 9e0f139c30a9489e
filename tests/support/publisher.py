"""A publisher on its own (no workers, no supervisor), for tests of the MQTT side."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from edgeeye.config.app import AppConfig
from edgeeye.mqtt.publisher import Publisher
from edgeeye.publish.stats import PipelineCounts


@contextmanager
def started_publisher(config: AppConfig) -> Iterator[Publisher]:
    """A started ``Publisher`` for ``config``, stopped (2 s at most) on the way out."""
    publisher = Publisher(config, "model", PipelineCounts, queue.Queue())
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop(2.0)


def wait_for(predicate: Callable[[], object], timeout: float) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` s pass; its last answer."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(predicate())

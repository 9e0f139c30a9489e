"""The watch table from the messages a device publishes."""

from __future__ import annotations

import json

from edgeeye.publish.stats import Latency, PipelineCounts, PublisherCounts, Stats
from edgeeye.tools.watch import DeviceView, render_table


def test_the_table_shows_status_label_fps_latency_drops_restarts_and_age():
    view = DeviceView()
    view.update("status", "online")
    view.update("result", {"labels": [{"index": 89, "label": "macaw", "score": 0.9961}]})
    stats = Stats.build(
        "cam1",
        60.0,
        PipelineCounts(frames_dropped=14, restarts={"worker_exit": 1, "capture": 2}),
        PublisherCounts(29.84, 0, 0, 0, 0, 0, 0, 0),
        Latency(p50=10.0, p95=20.0, p99=38.21, max=40.0),
    )
    view.update("stats", json.loads(stats.payload()))
    view.update("stats", {"fps": 1.0})  # not edgeeye's stats document: ignored
    idle = DeviceView()  # seen only as offline, nothing classified yet
    idle.update("status", "offline")
    table = render_table({"cam1": view, "attic": idle}, now=view.last_seen + 3)
    header, attic, cam1 = table.splitlines()
    assert header.split() == [
        "device", "status", "label", "score", "fps", "p99", "ms", "dropped", "restarts", "seen",
    ]  # fmt: skip
    assert cam1.split() == ["cam1", "online", "macaw", "1.00", "29.8", "38.2", "14", "3", "3",
                            "s", "ago"]  # fmt: skip
    assert attic.split()[:3] == ["attic", "offline", "-"]

"""The watch table from the messages a device publishes."""

from __future__ import annotations

from edgeeye.tools.watch import DeviceView, render_table


def test_the_table_shows_status_label_fps_latency_drops_restarts_and_age():
    view = DeviceView()
    view.update("status", "online")
    view.update("result", {"labels": [{"index": 89, "label": "macaw", "score": 0.9961}]})
    view.update(
        "stats",
        {"fps": 29.84, "latency_ms": {"p99": 38.21}, "frames_dropped": 14,
         "restarts": {"worker_exit": 1, "capture": 2}},
    )  # fmt: skip
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

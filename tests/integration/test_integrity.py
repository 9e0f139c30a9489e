"""Under sustained overload, no frame is torn or overwritten and memory stays flat."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.configs import write_config
from tests.support.processes import session_members

pytestmark = pytest.mark.slow

OVERLOAD_SECONDS = 24


def _rss_kib(pids: set[int]) -> dict[int, int]:
    sizes = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1])
        except OSError:
            pass
    return sizes


def test_every_frame_matches_its_descriptor_under_overload(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker, "edgeeye/stamp/#")
    config = write_config(
        tmp_path / "edgeeye.yaml",
        f"""
device_id: stamp
source: {{type: synthetic, width: 1280, height: 720, fps: 0, stamp: true}}
model:
  path: {test_data}/models/mobilenet_v2_1.0_224_quant.tflite
  labels: {test_data}/models/imagenet_labels.txt
workers: 2
ring: {{slots: 4}}
mqtt: {{port: {broker.port}, stats_interval: 1}}
""",
    )
    appliance = appliance_factory(config, "--duration", str(OVERLOAD_SECONDS))
    subscriber.collect(lambda r: any(m.topic.endswith("/result") for m in r), 60)
    time.sleep(4)  # past start-up allocations
    pids = session_members(appliance.process.pid)
    rss_early = _rss_kib(pids)
    time.sleep(OVERLOAD_SECONDS - 8)
    rss_late = _rss_kib(pids)
    assert appliance.wait(30) == 0, appliance.stderr
    received = subscriber.collect(lambda r: bool(r) and r[-1].payload == b"offline", 10)

    results = [json.loads(m.payload) for m in received if m.topic.endswith("/result")]
    stats = [json.loads(m.payload) for m in received if m.topic.endswith("/stats")][-1]
    assert len(results) > 100
    torn = [r for r in results if r["frame_stamp"] != r["sequence"]]
    assert torn == [], f"{len(torn)} results read a frame other than their descriptor's"
    assert len({r["sequence"] for r in results}) == len(results)
    # capture is far faster than inference: most frames are dropped, and every one is counted
    assert stats["frames_dropped"] > stats["frames_classified"]
    assert stats["frames_captured"] == stats["frames_dropped"] + stats["frames_classified"]
    assert len(pids) >= 4  # main, capture and two workers (and the resource tracker)
    growth = {pid: rss_late[pid] - rss_early[pid] for pid in rss_early if pid in rss_late}
    assert max(growth.values()) < 8 * 1024, f"resident memory grew (KiB per pid): {growth}"

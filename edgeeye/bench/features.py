"""What Home Assistant discovery and snapshots cost in throughput.

The same saturated run three ways, in alternating rounds so drift in the machine's speed
falls on every variant alike (medians are reported): everything off; discovery and
snapshots on with a snapshot at *every* frame (a source that changes label each frame,
``hold_s: 0``: the worst case); and discovery and snapshots with the default one-second
hold (what a real scene costs).  Results are published for every frame in all three, so
throughput is results per second.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeeye.bench.appliance import RunPlan, run_appliance
from edgeeye.bench.common import BenchModel
from edgeeye.tools.local_broker import LocalBroker

VARIANTS = {
    "off": "homeassistant: {discovery: false}\nsnapshot: {enabled: false}",
    "every_frame_snapshots": (
        "homeassistant: {discovery: true}\nsnapshot: {enabled: true}\npublish: {hold_s: 0}"
    ),
    "snapshots_hold_1s": "homeassistant: {discovery: true}\nsnapshot: {enabled: true}",
}


def write_flicker_images(folder: Path, width: int, height: int) -> Path:
    """Two patterns MobileNet labels differently (a checkerboard, concentric rings): looped,
    every frame is a label change."""
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    checker = (((x // 40 + y // 40) % 2) * 255).astype(np.uint8)
    rings = (np.sin(np.hypot(x - width / 2, y - height / 2) / 6) * 127 + 128).astype(np.uint8)
    for name, plane in (("a_checker.png", checker), ("b_rings.png", rings)):
        Image.fromarray(np.dstack([plane] * 3), "RGB").save(folder / name)
    return folder


def measure(
    model: BenchModel,
    broker: LocalBroker,
    workers: int,
    fps: float,
    measure_s: float,
    rounds: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    snapshots: dict[str, list[float]] = {name: [] for name in VARIANTS}
    worker_ms: dict[str, list[float]] = {name: [] for name in VARIANTS}
    main_cores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        images = write_flicker_images(Path(tmp), 640, 480)
        source = f"{{type: images, path: {images}, loop: true, fps: {min(fps, 1000):.2f}}}"
        for _ in range(rounds):
            for name, extra in VARIANTS.items():
                plan = RunPlan(workers, fps, measure_s=measure_s, source=source, extra=extra)
                result = run_appliance(model, plan, broker)
                stats = result["stats"]
                uptime = stats.get("uptime_s") or 1.0
                rates[name].append(result["throughput_fps"])
                snapshots[name].append(stats.get("snapshots_published", 0) / uptime)
                shares = result["cpu_share"]
                workers_busy = sum(v for k, v in shares.items() if k.startswith("edgeeye-w"))
                if result["throughput_fps"]:
                    worker_ms[name].append(1000 * workers_busy / result["throughput_fps"])
                main_cores[name].append(
                    sum(v for k, v in shares.items() if k.startswith("edgeeye-main"))
                )
                progress(
                    f"  {name}: {result['throughput_fps']} frames/s,"
                    f" {snapshots[name][-1]:.1f} snapshots/s"
                )
    # Medians: on a small machine one run in a few is disturbed by something else.
    base = statistics.median(rates["off"])
    report: dict[str, Any] = {"workers": workers, "rounds": rounds}
    for name in VARIANTS:
        median = statistics.median(rates[name])
        report[name] = {
            "throughput_fps": round(median, 2),
            "runs": rates[name],
            "snapshots_per_s": round(statistics.median(snapshots[name]), 2),
            "cost_percent": round(100 * (1 - median / base), 2) if base else None,
            # Where a cost would come from: the workers' CPU per frame (the board copy)
            # and the main process's cores (grabbing and encoding).
            "worker_ms_per_frame": _median(worker_ms[name], 3),
            "main_cores": _median(main_cores[name], 3),
        }
    return report


def _median(values: list[float], digits: int) -> float | None:
    return round(statistics.median(values), digits) if values else None

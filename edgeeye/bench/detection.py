"""Detection's figures: the detector's own ceiling, and the appliance against it.

Measured like classification (``ceiling`` and ``appliance``), with the detector given by
``edgeeye bench --detector``: the bare interpreter's pace on one core with the workers'
preprocessing, then the appliance with every worker, offered a little more than that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeeye.bench import appliance, ceiling
from edgeeye.bench.common import BenchModel
from edgeeye.inference.model import inspect_model
from edgeeye.tools.local_broker import LocalBroker


def measure(
    model_path: Path,
    labels_path: Path,
    broker: LocalBroker,
    plan: appliance.RunPlan,
    offered: float,
    ceiling_s: float,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The detector's single-core ceiling and the appliance's frames/s with
    ``plan.workers`` workers, offered ``offered`` times their ceiling."""
    spec = inspect_model(model_path, labels_path, task="detect")
    model = BenchModel(model_path.stem, spec, labels_path)
    single = ceiling.single_core_rate(model, plan.width, plan.height, ceiling_s)
    limit = single * plan.workers
    progress(f"  {model.name}: ceiling {single:.1f} frames/s on one core")
    plan = replace(plan, fps=offered * limit)
    result = appliance.run_appliance(model, plan, broker)
    progress(
        f"  edgeeye {plan.workers} workers detecting: {result['throughput_fps']} frames/s,"
        f" {result['throughput_fps'] / limit:.2f} of the ceiling, p99"
        f" {result['latency_ms']['p99']} ms"
    )
    return {
        "model": model.name,
        "single_core_fps": round(single, 2),
        "ceiling_fps": round(limit, 2),
        "workers": plan.workers,
        "throughput_fps": result["throughput_fps"],
        "of_ceiling": round(result["throughput_fps"] / limit, 3),
        "latency_ms": result["latency_ms"],
        "received": result["received"],
    }

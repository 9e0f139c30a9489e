"""Detection's figures: the detector's own ceiling, and the appliance against it.

Measured like classification (``ceiling`` and ``appliance``), with the detector given by
``edgeeye bench --detector``: the bare interpreter's pace on one core with the workers'
preprocessing, then the appliance with every worker, offered a little more than that.
``box_cost`` is what ``classify_detections`` adds per box.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edgeeye.bench import appliance, ceiling
from edgeeye.bench.common import BenchModel, rate_for
from edgeeye.inference.classifier import Classifier
from edgeeye.inference.model import inspect_model
from edgeeye.inference.preprocess import crop_to_model_rgb, to_model_rgb
from edgeeye.inference.runner import open_model
from edgeeye.sources.frame import PixelFormat
from edgeeye.tools.demo import demo_photos
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


def box_cost(
    detector_path: Path,
    detector_labels: Path,
    classifier: BenchModel,
    rounds: int,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """What ``classify_detections`` costs per box: the crop from the full frame, its
    resize and the second model's invoke, in ms on one core (median of ``rounds``), on the
    shipped parrot photograph's bird box; beside the detector's own ms per frame."""
    picture = np.asarray(Image.open(demo_photos() / "parrot.jpg").convert("RGB"))
    height, width = picture.shape[:2]
    spec = inspect_model(detector_path, detector_labels, task="detect")
    detector, size = open_model(spec), spec.input_size
    second = Classifier(replace(classifier.spec, threads=1))
    whole = to_model_rgb(picture, PixelFormat.RGB888, height, width, size)
    found = detector.infer(whole, 1).detections
    box = found[0].box if found else (0.25, 0.25, 0.75, 0.75)

    def detect_step(_i: int) -> None:
        detector.infer(to_model_rgb(picture, PixelFormat.RGB888, height, width, size), 1)

    def box_step(_i: int) -> None:
        crop = crop_to_model_rgb(
            picture, PixelFormat.RGB888, height, width, box, classifier.spec.input_size
        )
        second.classify(crop, 1, 0.0)

    frame_ms, box_ms = [], []
    for _ in range(rounds):  # alternating, so both see the same machine
        frame_ms.append(1000.0 / rate_for(0.5, detect_step, warmup=2))
        box_ms.append(1000.0 / rate_for(0.5, box_step, warmup=2))
    result = {
        "box_classifier": classifier.name,
        "box": [round(v, 3) for v in box],
        "ms_per_box": round(statistics.median(box_ms), 3),
        "detector_ms_per_frame": round(statistics.median(frame_ms), 3),
        "rounds": rounds,
    }
    progress(
        f"  classify_detections with {classifier.name}: {result['ms_per_box']} ms per box"
        f" (crop, resize, invoke), the detector {result['detector_ms_per_frame']} ms per frame"
    )
    return result

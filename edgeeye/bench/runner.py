"""Runs every part of the benchmark in order, printing progress, and assembles the report."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeeye.bench import (
    appliance,
    baselines,
    ceiling,
    detection,
    fair,
    features,
    footprint,
    handoff,
    paho_floor,
    paired,
    preprocessing,
)
from edgeeye.bench.bytecode import compile_as_installed
from edgeeye.bench.common import BenchModel
from edgeeye.inference.interpreter import interpreter_class
from edgeeye.inference.model import inspect_model
from edgeeye.tools.local_broker import LocalBroker

#: A process whose resident memory grows by more than this after warm-up counts as growing.
GROWTH_LIMIT_KIB = 4096

#: Throughput is measured with the source offering this much more than the ceiling, so the
#: workers never wait for a frame; more would only spend capture's CPU on dropped frames.
OFFERED = 1.1


@dataclass(frozen=True)
class BenchOptions:
    model_path: Path
    labels_path: Path
    quick: bool = False
    max_workers: int = 0  # 0: one per core
    width: int = 640
    height: int = 480
    features_only: bool = False  # just the cost of discovery and snapshots
    #: A detector (.tflite and its labels) to measure as well; None: that part is skipped.
    detector: tuple[Path, Path] | None = None
    #: The second model of classify_detections whose cost per box is measured (default:
    #: the classifier under test).
    box_classifier: tuple[Path, Path] | None = None


@dataclass(frozen=True)
class _Durations:
    ceiling_s: float
    run_s: float
    baseline_s: float
    overload_s: float
    handoff_frames: int
    rounds: int  # of the side-by-side comparisons (fair fight, memory, 5 frames/s)
    short_s: float  # measurement window of the memory, idle and 5 frames/s runs

    @classmethod
    def of(cls, quick: bool) -> _Durations:
        if quick:
            return cls(
                ceiling_s=3,
                run_s=6,
                baseline_s=5,
                overload_s=12,
                handoff_frames=300,
                rounds=1,
                short_s=4,
            )
        return cls(
            ceiling_s=9,
            run_s=20,
            baseline_s=15,
            overload_s=36,
            handoff_frames=2000,
            rounds=3,
            short_s=10,
        )


def run_bench(options: BenchOptions, progress: Callable[[str], None] = print) -> dict[str, Any]:
    durations = _Durations.of(options.quick)
    starts = compile_as_installed()
    progress(f"edgeeye's modules: {starts}")
    workers = options.max_workers or len(os.sched_getaffinity(0))
    model = BenchModel(
        options.model_path.stem,
        inspect_model(options.model_path, options.labels_path),
        options.labels_path,
    )
    frame = f"{options.width}x{options.height}"
    progress(f"ceiling: bare interpreter, one core, {frame} frames, {model.name}")
    single = ceiling.single_core_rate(model, options.width, options.height, durations.ceiling_s)
    progress(f"  {single:.1f} frames/s on one core")
    progress(
        f"preprocessing: frame to {model.spec.input_size[1]}x{model.spec.input_size[0]}"
        " RGB, ms per frame on one core"
    )
    preprocessing_costs = preprocessing.measure(
        model.spec.input_size, rounds=3 if options.quick else 7, progress=progress
    )
    frame_sizes = [(options.width, options.height)]
    if not options.quick and (options.width, options.height) != (1920, 1080):
        frame_sizes.append((1920, 1080))

    machine = {
        "bytecode": starts,
        "cpus": os.cpu_count(),
        "usable_cpus": workers,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "runtime": interpreter_class()[1],
    }
    header = {
        "model": model.name,
        "frame": frame,
        "workers": workers,
        "quick": options.quick,
        "machine": machine,
        "ceiling": {
            "single_core_fps": round(single, 2),
            "workers": workers,
            "ceiling_fps": round(single * workers, 2),
        },
        "preprocessing": preprocessing_costs,
    }
    with LocalBroker() as broker:
        if options.features_only:
            costs = _features(model, broker, workers, single, options, progress)
            return {**header, "features": costs}

        def run(plan: appliance.RunPlan) -> dict[str, Any]:
            result = appliance.run_appliance(model, plan, broker)
            progress(
                f"  edgeeye {plan.workers} workers, source {plan.fps:.0f} fps at"
                f" {plan.width}x{plan.height}: {result['throughput_fps']} frames/s,"
                f" p99 {result['latency_ms']['p99']} ms"
            )
            return result

        progress(
            f"the fair fight: edgeeye against a thread pool that publishes every result,"
            f" {workers} workers, {durations.rounds} alternating round(s)"
        )
        fair_fight = fair.measure(
            model,
            broker,
            _plan(workers, 0.0, options.width, options.height, durations),
            OFFERED,
            durations.rounds,
            durations.ceiling_s / 3,
            progress,
        )

        rate = fair_fight["edgeeye"]["throughput_fps"]
        progress(f"bare paho-mqtt, QoS 1, at edgeeye's {rate:.0f} results/s: CPU per message")
        fair_fight["paho_floor"] = paho_floor.measure(
            broker, rate, durations.short_s, durations.rounds, progress
        )

        progress(
            f"edgeeye through mosquitto, 1 to {workers} workers, and publish.mode on_change;"
            f" {durations.rounds} round(s), each against its own ceiling"
        )
        frame_plan = _plan(workers, 0.0, options.width, options.height, durations)
        variants = [
            paired.Variant(f"{count} workers", replace(frame_plan, workers=count), OFFERED)
            for count in range(1, workers + 1)
        ]
        quiet_plan = replace(frame_plan, extra="publish: {mode: on_change}")
        variants.append(paired.Variant("on_change", quiet_plan, OFFERED, paired.classified_rate))
        by_variant = paired.measure(
            model,
            broker,
            variants,
            durations.rounds,
            durations.ceiling_s / 3,
            durations.short_s,
            progress,
        )
        scaling = [by_variant[f"{count} workers"] for count in range(1, workers + 1)]
        capacity = scaling[-1]["throughput_fps"]
        quiet = by_variant["on_change"]
        on_change = {
            "classified_fps": quiet["classified_fps"],
            "of_ceiling": quiet["efficiency"],
            "messages_per_minute": round(quiet["received"] / (quiet["measured_s"] or 1) * 60, 1),
            "worker_cores": quiet["worker_cores"],
            "worker_efficiency": quiet["worker_efficiency"],
            "per_round": quiet["per_round"],
        }
        progress(f"  on_change: {on_change['of_ceiling']} of the ceiling (median)")

        progress("baselines")
        baseline_report: dict[str, Any] = {}
        for width, height in frame_sizes:
            size_ceiling = single
            edgeeye_run = scaling[-1]
            if (width, height) != (options.width, options.height):
                size_ceiling = ceiling.single_core_rate(model, width, height, durations.ceiling_s)
                limit = size_ceiling * workers
                edgeeye_run = run(_plan(workers, OFFERED * limit, width, height, durations))
            edgeeye_fps = edgeeye_run["throughput_fps"]
            designs = baselines.measure(
                model, width, height, workers, 2.0, durations.baseline_s, progress
            )
            for row in designs.values():
                row["of_ceiling"] = round(row["throughput_fps"] / (size_ceiling * workers), 3)
                row["edgeeye_ratio"] = (
                    round(edgeeye_fps / row["throughput_fps"], 2) if row["throughput_fps"] else None
                )
            designs["edgeeye"] = {
                "throughput_fps": edgeeye_fps,
                "latency_ms": edgeeye_run["latency_ms"],
                "of_ceiling": round(edgeeye_fps / (size_ceiling * workers), 3),
                "edgeeye_ratio": 1.0,
            }
            baseline_report[f"{width}x{height}"] = designs

        progress("hand-off: ring versus pickled multiprocessing.Queue")
        handoff_rows = handoff.measure(durations.handoff_frames, progress)

        progress(f"latency at 50% and 100% of capacity ({capacity:.1f} frames/s)")
        latency_rows = []
        for load, share in (("50% of capacity", 0.5), ("100% of capacity", 1.0)):
            result = run(_plan(workers, share * capacity, options.width, options.height, durations))
            latency_rows.append({**result, "load": load})
        progress(f"2x overload for {durations.overload_s:.0f} s")
        overload = run(
            _plan(
                workers,
                2 * capacity,
                options.width,
                options.height,
                durations,
                measure_s=durations.overload_s,
            )
        )
        latency_rows.append({**overload, "load": "200% (overload)"})

        progress("memory (PSS) and start to first result at 1, 2 and 4 workers")
        memory_start = footprint.memory_and_start(
            model, broker, 0.5 * single, durations.rounds, durations.short_s, progress
        )
        progress("idle: wake-ups per second with no frame arriving")
        idle = footprint.idle(model, broker, workers, durations.short_s)
        progress(f"  {idle['wakeups_per_s']} wake-ups/s")
        progress(f"a steady {footprint.SLOW_FPS:g} frames/s: CPU per frame against the bare invoke")
        slow = footprint.slow_camera(
            model, broker, workers, durations.rounds, durations.short_s, progress
        )
        feature_costs = _features(model, broker, workers, single, options, progress)
        detection_report: dict[str, Any] = {"skipped": "no --detector given"}
        if options.detector is not None:
            progress(f"detection, {workers} workers")
            detection_report = detection.measure(
                *options.detector,
                broker,
                _plan(workers, 0.0, options.width, options.height, durations),
                OFFERED,
                durations.ceiling_s,
                progress,
            )
            box_classifier = model
            if options.box_classifier is not None:
                path, labels = options.box_classifier
                box_classifier = BenchModel(path.stem, inspect_model(path, labels), labels)
            detection_report["classify_detections"] = detection.box_cost(
                *options.detector, box_classifier, 3 if options.quick else 7, progress
            )

    growth = overload["memory_growth_kib"]
    invoke_ms = 1000 / single
    half = latency_rows[0]
    return {
        **header,
        "fair_fight": fair_fight,
        "scaling": scaling,
        "on_change": on_change,
        "latency_target": {
            "invoke_ms": round(invoke_ms, 2),
            "target_p99_ms": round(2 * invoke_ms + 10, 2),
            "p99_at_half_ms": half["latency_ms"]["p99"],
        },
        "footprint": {"memory_and_start": memory_start, "idle": idle, "slow_camera": slow},
        "baselines": baseline_report,
        "handoff": handoff_rows,
        "latency": latency_rows,
        "overload": {
            "seconds": durations.overload_s,
            "source_fps": overload["source_fps"],
            "drop_rate": overload["drop_rate"],
            "edge_s": appliance.edge_seconds(durations.overload_s),
            "first_p99_ms": overload["latency_first_ms"]["p99"],
            "last_p99_ms": overload["latency_last_ms"]["p99"],
            "first_worker_pace": overload["worker_pace_first"],
            "last_worker_pace": overload["worker_pace_last"],
        },
        "memory": {
            "peak_kib": overload["memory_peak_kib"],
            "total_peak_mib": round(overload["memory_total_peak_kib"] / 1024, 1),
            "processes": overload["pid_count"],
            "max_growth_kib": max(growth.values(), default=0),
            "grew": any(value > GROWTH_LIMIT_KIB for value in growth.values()),
        },
        "features": feature_costs,
        "detection": detection_report,
    }


def _features(
    model: BenchModel,
    broker: LocalBroker,
    workers: int,
    single: float,
    options: BenchOptions,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    progress("cost of Home Assistant discovery and snapshots (alternating runs)")
    durations = _Durations.of(options.quick)
    return features.measure(
        model,
        broker,
        workers,
        OFFERED * single * workers,
        durations.run_s,
        rounds=1 if options.quick else 3,
        progress=progress,
    )


def _plan(
    workers: int,
    fps: float,
    width: int,
    height: int,
    durations: _Durations,
    measure_s: float | None = None,
    extra: str = "",
) -> appliance.RunPlan:
    return appliance.RunPlan(
        workers=workers,
        fps=fps,
        width=width,
        height=height,
        measure_s=measure_s or durations.run_s,
        extra=extra,
    )

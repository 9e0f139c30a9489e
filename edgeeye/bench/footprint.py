"""What the appliance costs when it is not racing: memory, start, idle, and a slow camera.

- memory and start: PSS of every process (shared pages counted once) and the time from
  launching ``edgeeye run`` to its first result at the subscriber, at 1, 2 and 4 workers;
- idle: context switches per second of all the appliance's processes while no frame
  arrives (a source that offers one frame every 100 s);
- a steady 5 frames/s: the appliance's CPU per frame (every process of it) against the
  bare interpreter's CPU per frame at the same pace, alternating, medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from edgeeye.bench.appliance import RunPlan, run_appliance
from edgeeye.bench.common import BenchModel, infer_frame, synthetic_frames
from edgeeye.config.sections import MqttConfig
from edgeeye.inference.runner import open_model
from edgeeye.tools.local_broker import LocalBroker

WORKER_COUNTS = (1, 2, 4)
SLOW_FPS = 5.0
#: ``mqtt.stats_interval`` as shipped.
DEFAULT_STATS_S = MqttConfig.model_fields["stats_interval"].default


def _appliance_only(figures: dict[str, Any]) -> dict[str, Any]:
    return {name: v for name, v in figures.items() if not name.startswith("mosquitto")}


def memory_and_start(
    model: BenchModel,
    broker: LocalBroker,
    fps: float,
    rounds: int,
    measure_s: float,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """PSS per process and in total, and start to first result, at 1, 2 and 4 workers."""
    rows: dict[int, list[dict[str, Any]]] = {count: [] for count in WORKER_COUNTS}
    for index in range(rounds):
        counts = WORKER_COUNTS if index % 2 == 0 else tuple(reversed(WORKER_COUNTS))
        for count in counts:
            plan = RunPlan(workers=count, fps=fps, warmup_s=2.0, measure_s=measure_s)
            run = run_appliance(model, plan, broker)
            pss = run["pss_kib"]
            rows[count].append(
                {
                    "first_result_s": run["first_result_s"],
                    "total_pss_mib": round(sum(pss.values()) / 1024, 1),
                    "pss_mib": {name: round(kib / 1024, 1) for name, kib in pss.items()},
                }
            )
            progress(
                f"  {count} workers: first result after {run['first_result_s']} s,"
                f" PSS {rows[count][-1]['total_pss_mib']} MiB"
            )
    report = {}
    for count, runs in rows.items():
        middle = sorted(runs, key=lambda run: run["total_pss_mib"])[len(runs) // 2]
        report[str(count)] = {
            "first_result_s": round(statistics.median(r["first_result_s"] for r in runs), 3),
            "total_pss_mib": middle["total_pss_mib"],
            "pss_mib": middle["pss_mib"],
        }
    return {"rounds": rounds, "workers": report}


def idle(model: BenchModel, broker: LocalBroker, workers: int, measure_s: float) -> dict[str, Any]:
    """Wake-ups per second of the appliance's processes while no frame arrives."""
    plan = RunPlan(
        workers=workers, fps=0.01, warmup_s=3.0, measure_s=measure_s, stats_interval=DEFAULT_STATS_S
    )
    run = run_appliance(model, plan, broker)
    wakeups = _appliance_only(run["wakeups_per_s"])
    return {
        "workers": workers,
        "seconds": measure_s,
        "wakeups_per_s": round(sum(wakeups.values()), 2),
        "per_process": wakeups,
    }


def _bare_cpu_per_frame_ms(model: BenchModel, fps: float, seconds: float) -> float:
    """CPU per frame of preprocess + invoke, one frame every 1/fps s, on this thread: the
    mean, as the appliance's is its CPU over its frames (a median would leave out the
    slow frames on the bare side only)."""
    classifier = open_model(replace(model.spec, threads=1))
    frames = synthetic_frames(640, 480)
    infer_frame(classifier, frames[0], model.size)
    spent = []
    due = time.monotonic()
    for index in range(max(3, int(seconds * fps))):
        due += 1.0 / fps
        time.sleep(max(0.0, due - time.monotonic()))
        started = time.thread_time()
        infer_frame(classifier, frames[index % len(frames)], model.size)
        spent.append(time.thread_time() - started)
    return statistics.fmean(spent) * 1000


def slow_camera(
    model: BenchModel,
    broker: LocalBroker,
    workers: int,
    rounds: int,
    measure_s: float,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The appliance's CPU per frame at a steady 5 frames/s against the bare invoke's."""
    bare, appliance = [], []
    for _ in range(rounds):
        bare.append(_bare_cpu_per_frame_ms(model, SLOW_FPS, measure_s))
        plan = RunPlan(
            workers=workers,
            fps=SLOW_FPS,
            warmup_s=3.0,
            measure_s=measure_s,
            stats_interval=DEFAULT_STATS_S,
        )
        run = run_appliance(model, plan, broker)
        cores = sum(_appliance_only(run["cpu_share"]).values())
        appliance.append(cores / max(run["throughput_fps"], 1e-9) * 1000)
        progress(
            f"  5 frames/s: bare {bare[-1]:.2f} ms of CPU per frame, edgeeye {appliance[-1]:.2f}"
        )
    bare_ms, appliance_ms = statistics.median(bare), statistics.median(appliance)
    return {
        "fps": SLOW_FPS,
        "workers": workers,
        "rounds": rounds,
        "bare_cpu_ms_per_frame": round(bare_ms, 3),
        "edgeeye_cpu_ms_per_frame": round(appliance_ms, 3),
        "ratio": round(appliance_ms / bare_ms, 3),
    }

"""The fair fight: edgeeye against a thread pool that also publishes every result.

Both run the same model on the same frames with one interpreter per core, publish every
result at QoS 1 to the same broker and topic, and are counted by the same subscriber
(``mosquitto_sub``); each round measures the ceiling, then edgeeye, then the pool (the
order alternates from round to round), and the figures are the medians over rounds.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeeye.bench import appliance, ceiling
from edgeeye.bench.appliance import RESULT_TOPIC, RunPlan, observers, summarise
from edgeeye.bench.common import BenchModel
from edgeeye.bench.processes import Sampler
from edgeeye.bench.subscriber import Subscriber
from edgeeye.errors import ChildProcessFailed
from edgeeye.tools.local_broker import LocalBroker


def run_pool(model: BenchModel, plan: RunPlan, broker: LocalBroker) -> dict[str, Any]:
    """The fair thread pool for warm-up + measurement, seen the way edgeeye is seen."""
    seconds = appliance.STARTUP_ALLOWANCE_S + plan.warmup_s + plan.measure_s
    command = [
        sys.executable, "-m", "edgeeye.bench.fair_pool",
        "--model", str(model.spec.path), "--labels", str(model.labels_path),
        "--workers", str(plan.workers), "--fps", f"{plan.fps:.2f}",
        "--width", str(plan.width), "--height", str(plan.height),
        "--host", broker.host, "--port", str(broker.port),
        "--topic", RESULT_TOPIC, "--seconds", str(seconds),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, Subscriber(broker, [RESULT_TOPIC], Path(tmp)) as sub:
        watched = observers(broker, sub)
        launched = time.time()
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        with Sampler(lambda: {process.pid: "thread-pool", **watched}) as sampler:
            _, errors = process.communicate(timeout=seconds + 30)
        if process.returncode != 0:
            lines = errors.strip().splitlines() or ["(nothing)"]
            raise ChildProcessFailed(f"bench: the fair thread pool failed: {lines[-1]}")
        time.sleep(0.5)
        sub.stop()
        received = sub.received()
    return summarise(received, plan, launched, sampler)


def design_cores(run: dict[str, Any]) -> float:
    """The CPU the design itself used, in cores: everything but the broker and subscriber."""
    return float(sum(v for name, v in run["cpu_share"].items() if not name.startswith("mosquitto")))


def measure(
    model: BenchModel,
    broker: LocalBroker,
    plan: RunPlan,
    offered: float,
    rounds: int,
    ceiling_s: float,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Alternating rounds of ceiling, edgeeye and the pool; medians and every round."""
    per_round: list[dict[str, Any]] = []
    for index in range(rounds):
        single = ceiling.single_core_rate(model, plan.width, plan.height, ceiling_s)
        limit = single * plan.workers
        this = dataclasses.replace(plan, fps=offered * limit)
        runs: dict[str, dict[str, Any]] = {}
        order = ("edgeeye", "thread_pool") if index % 2 == 0 else ("thread_pool", "edgeeye")
        for design in order:
            run = (appliance.run_appliance if design == "edgeeye" else run_pool)(
                model, this, broker
            )
            runs[design] = run
            progress(
                f"  round {index + 1}: {design} {run['throughput_fps']} frames/s"
                f" ({run['throughput_fps'] / limit:.2f} of ceiling), p99"
                f" {run['latency_ms']['p99']} ms"
            )
        per_round.append({"ceiling_fps": round(limit, 2), **runs})

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    summary: dict[str, Any] = {"rounds": rounds, "workers": plan.workers}
    summary["ceiling_fps"] = median([row["ceiling_fps"] for row in per_round])
    for design in ("edgeeye", "thread_pool"):
        runs_of = [(row[design], row["ceiling_fps"]) for row in per_round]
        summary[design] = {
            "throughput_fps": median([run["throughput_fps"] for run, _ in runs_of]),
            "of_ceiling": median([run["throughput_fps"] / limit for run, limit in runs_of]),
            "p99_ms": median([run["latency_ms"]["p99"] or 0.0 for run, _ in runs_of]),
            "cpu_share": runs_of[len(runs_of) // 2][0]["cpu_share"],
            "cpu_us_per_result": median(
                [design_cores(run) / max(run["throughput_fps"], 1e-9) * 1e6 for run, _ in runs_of]
            ),
        }
    summary["edgeeye"]["main_us_per_result"] = median(
        [row["edgeeye"]["main_us_per_result"] or 0.0 for row in per_round]
    )
    summary["edgeeye_over_pool"] = median(
        [
            row["edgeeye"]["throughput_fps"] / max(row["thread_pool"]["throughput_fps"], 1e-9)
            for row in per_round
        ]
    )
    summary["per_round"] = [
        {
            "ceiling_fps": row["ceiling_fps"],
            "edgeeye_fps": row["edgeeye"]["throughput_fps"],
            "thread_pool_fps": row["thread_pool"]["throughput_fps"],
        }
        for row in per_round
    ]
    return summary

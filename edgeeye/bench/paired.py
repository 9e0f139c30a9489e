"""Runs of the appliance set against the ceiling measured beside each of them.

Each round measures the ceiling (the bare interpreter, best of three short runs) and then
runs the appliance once per variant, the variants' order alternating from round to
round; a variant's figures are the medians over rounds of its run set against its own
round's ceiling.  The workers' pace is set against the bare interpreter's sustained pace
(one pinned run of several seconds, frames per CPU-second) measured just before each run.

A ceiling measured once at the start of the bench and set against runs ten or twenty
minutes later drifts on a shared machine by more than the few percent the workers' pace
is about: on 2026-12-04 the same bare loop ran at 101 and at 111 frames/s within an hour.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from edgeeye.bench import appliance, ceiling
from edgeeye.bench.appliance import RunPlan
from edgeeye.bench.common import BenchModel
from edgeeye.tools.local_broker import LocalBroker

#: How fast a run went: frames/s received, or, for runs that publish only on a change,
#: frames/s classified.
RateOf = Callable[[dict[str, Any]], float]


def received_rate(run: dict[str, Any]) -> float:
    return float(run["throughput_fps"])


def classified_rate(run: dict[str, Any]) -> float:
    return float(run["classified_fps"])


@dataclass(frozen=True)
class Variant:
    """One kind of run: ``plan`` with its source offering ``offered`` x the ceiling of
    its workers."""

    name: str
    plan: RunPlan
    offered: float
    rate_of: RateOf = received_rate


def _figures(variant: Variant, run: dict[str, Any], single: float, pace: float) -> dict[str, Any]:
    rate = variant.rate_of(run)
    cores = appliance.worker_cores(run["cpu_share"])
    limit = single * variant.plan.workers
    return {
        "ceiling_fps": round(limit, 2),
        "bare_pace_fps": round(pace, 2),
        "rate_fps": round(rate, 2),
        "efficiency": round(rate / limit, 3),
        "worker_cores": round(cores, 2),
        "other_cores": round(sum(run["cpu_share"].values()) - cores, 2),
        # Frames per second of the CPU the workers got, against the bare interpreter's
        # sustained pace measured just before.
        "worker_efficiency": round(rate / (cores * pace), 3) if cores else None,
    }


def measure(
    model: BenchModel,
    broker: LocalBroker,
    variants: Sequence[Variant],
    rounds: int,
    ceiling_s: float,
    pace_s: float,
    progress: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Per variant: its middle run (by efficiency) with that run's figures, the medians of
    ``efficiency`` (against the round's ceiling) and ``worker_efficiency`` (against the
    bare pace measured for ``pace_s`` just before the run) over rounds, and every round's
    figures."""
    frame = variants[0].plan  # every variant's frames are this size
    rows: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {v.name: [] for v in variants}
    for index in range(rounds):
        single = ceiling.single_core_rate(model, frame.width, frame.height, ceiling_s)
        order = list(variants) if index % 2 == 0 else list(reversed(variants))
        for variant in order:
            limit = single * variant.plan.workers
            pace = ceiling.bare_pace(model, frame.width, frame.height, pace_s)
            run = appliance.run_appliance(
                model, replace(variant.plan, fps=variant.offered * limit), broker
            )
            figures = _figures(variant, run, single, pace)
            rows[variant.name].append((run, figures))
            progress(
                f"  round {index + 1}: {variant.name}: {figures['rate_fps']} frames/s,"
                f" {figures['efficiency']} of the ceiling ({single:.1f}/core), workers at"
                f" {figures['worker_efficiency']} of the bare pace ({pace:.1f}/core), p99"
                f" {run['latency_ms']['p99']} ms"
            )
    report = {}
    for name, runs in rows.items():
        middle_run, middle = sorted(runs, key=lambda pair: pair[1]["efficiency"])[len(runs) // 2]
        report[name] = {
            **middle_run,
            **middle,
            "rounds": len(runs),
            "efficiency": _median([figures["efficiency"] for _, figures in runs]),
            "worker_efficiency": _median(
                [figures["worker_efficiency"] or 0.0 for _, figures in runs]
            ),
            "per_round": [figures for _, figures in runs],
        }
    return report


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)

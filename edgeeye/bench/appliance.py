"""edgeeye itself, measured from the outside: a real broker and a cheap real subscriber.

The appliance runs as ``edgeeye run`` in its own session; ``mosquitto_sub`` timestamps every
result on arrival, so throughput is "classified and published and received per second" and
latency is capture (``captured_at``) to arrival.  Every process of the appliance, the broker
and the subscriber is read from /proc once a second: CPU, memory (RSS, the kernel's peak,
PSS) and context switches.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeeye.bench.common import BenchModel
from edgeeye.bench.processes import Sampler, session_processes
from edgeeye.bench.subscriber import Arrival, Received, Subscriber
from edgeeye.errors import ChildProcessFailed
from edgeeye.publish.stats import percentiles
from edgeeye.tools.launcher import launch_run
from edgeeye.tools.local_broker import LocalBroker

DEVICE = "bench"
RESULT_TOPIC = f"edgeeye/{DEVICE}/result"

#: Seconds allowed for the appliance to start (load models, connect) before warm-up counts.
STARTUP_ALLOWANCE_S = 4.0


@dataclass
class RunPlan:
    """One run: the measurement window starts ``warmup_s`` after the first result."""

    workers: int
    fps: float
    width: int = 640
    height: int = 480
    warmup_s: float = 3.0
    measure_s: float = 10.0
    #: Another source than synthetic frames (a YAML flow mapping), and more config lines.
    source: str = ""
    extra: str = ""
    #: The bench reads drops from the stats once a second; the quiet runs (idle, a slow
    #: camera) keep the appliance's default, as deployed.
    stats_interval: float = 1.0


def edge_seconds(measure_s: float) -> float:
    """How much of the start and the end of a window is compared: 10 s, or a third."""
    return min(10.0, measure_s / 3)


def worker_cores(cores: dict[str, float]) -> float:
    """The workers' share of a per-process CPU reading, in cores."""
    return float(sum(v for name, v in cores.items() if name.startswith("edgeeye-w")))


def workers_pace(
    results: list[Arrival], sampler: Sampler, start: float, end: float
) -> float | None:
    """Results per worker CPU-second between two times (None without a reading of the
    workers' CPU in it).

    The pace of an invoke on this host at that moment: when two parts of one run differ
    (the first and last seconds of the overload run), a pace that moved as much says the
    host slowed down, a pace that held says the appliance did.
    """
    cores = worker_cores(sampler.cores(start, end))
    if cores <= 0:
        return None
    frames = sum(1 for result in results if start <= result.arrived < end)
    return round(frames / (cores * (end - start)), 1)


def observers(broker: LocalBroker, subscriber: Subscriber) -> dict[int, str]:
    """The processes outside the design under test that every message also costs."""
    found = {subscriber.pid: "mosquitto_sub"}
    if broker.pid is not None:
        found[broker.pid] = "mosquitto"
    return found


def _config_text(model: BenchModel, plan: RunPlan, broker: LocalBroker, folder: Path) -> str:
    source = plan.source or (
        f"{{type: synthetic, width: {plan.width}, height: {plan.height}, fps: {plan.fps:.2f}}}"
    )
    return (
        f"device_id: {DEVICE}\nworkers: {plan.workers}\nsource: {source}\n"
        f"model: {{path: {model.spec.path}, labels: {model.labels_path}}}\n"
        f"mqtt: {{port: {broker.port}, stats_interval: {plan.stats_interval:g}}}\n"
        "logging: {level: WARNING}\n"
        f"outbox: {{path: {folder / 'outbox.sqlite3'}}}\n{plan.extra}\n"
    )


def run_appliance(model: BenchModel, plan: RunPlan, broker: LocalBroker) -> dict[str, Any]:
    """Run the appliance for warm-up + measurement and report what the subscriber saw."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "bench.yaml"
        config.write_text(_config_text(model, plan, broker, folder))
        duration = STARTUP_ALLOWANCE_S + plan.warmup_s + plan.measure_s
        errors_path = folder / "stderr.txt"
        with Subscriber(broker, [RESULT_TOPIC, f"edgeeye/{DEVICE}/stats"], folder) as subscriber:
            watched = observers(broker, subscriber)
            with errors_path.open("wb") as errors:
                launched = time.time()
                process = launch_run(config, "--duration", str(duration), stderr=errors)

            def find() -> dict[int, str]:
                return {**session_processes(process.pid, process.pid), **watched}

            with Sampler(find) as sampler:
                try:
                    process.wait(duration + 30)
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait(5)
            time.sleep(0.5)  # the last results on their way
        if process.returncode != 0:
            lines = errors_path.read_text(errors="replace").strip().splitlines() or ["(nothing)"]
            raise ChildProcessFailed(
                f"bench: edgeeye run exited with {process.returncode}: {lines[-1]}"
            )
        received = subscriber.received()
    return summarise(received, plan, launched, sampler)


def classified_rate(stats: list[tuple[float, dict[str, Any]]], start: float, end: float) -> float:
    """Frames classified per second between two times, from the appliance's own counters
    (for runs that publish only on a change)."""
    inside = [(at, doc) for at, doc in stats if start <= at <= end]
    if len(inside) < 2:
        return 0.0
    (t0, first), (t1, last) = inside[0], inside[-1]
    return float(last["frames_classified"] - first["frames_classified"]) / max(t1 - t0, 1e-9)


def window_of(results: list[Arrival], launched: float, plan: RunPlan) -> tuple[float, float]:
    """The measurement window: from warm-up after the first result, for ``measure_s``."""
    first = results[0].arrived if results else launched + STARTUP_ALLOWANCE_S
    start = first + plan.warmup_s
    return start, start + plan.measure_s


def summarise(
    received: Received, plan: RunPlan, launched: float, sampler: Sampler
) -> dict[str, Any]:
    results = received.results
    window_start, window_end = window_of(results, launched, plan)
    last = max((r.arrived for r in results), default=window_start)
    if last > window_start:  # a slow start leaves less than planned: rate over what was covered
        window_end = min(window_end, last)
    covered_s = max(window_end - window_start, 1e-9)
    window = [r for r in results if window_start <= r.arrived < window_end]
    latency = [(r.arrived - r.captured) * 1000 for r in window]
    edge = edge_seconds(covered_s)
    early = [(r.arrived - r.captured) * 1000 for r in window if r.arrived < window_start + edge]
    late = [(r.arrived - r.captured) * 1000 for r in window if r.arrived >= window_end - edge]
    stats = received.stats[-1][1] if received.stats else {}
    captured = stats.get("frames_captured", 0)
    throughput = len(window) / covered_s
    cores = sampler.cores(window_start, window_end)
    main_cores = sum(v for name, v in cores.items() if name.startswith("edgeeye-main"))
    peaks = {sampler.label(pid): max(s.peak_kib for s in r) for pid, r in sampler.samples.items()}
    growth = {
        sampler.label(pid): readings[-2].rss_kib - readings[len(readings) // 3].rss_kib
        for pid, readings in sampler.samples.items()
        if len(readings) >= 4 and not sampler.names[pid].startswith("mosquitto")
    }
    appliance_peaks = {k: v for k, v in peaks.items() if not k.startswith("mosquitto")}
    return {
        "workers": plan.workers,
        "source_fps": plan.fps,
        "frame": f"{plan.width}x{plan.height}",
        "throughput_fps": round(throughput, 2),
        "classified_fps": round(classified_rate(received.stats, window_start, window_end), 2),
        "measured_s": round(covered_s, 1),
        "latency_ms": percentiles(latency),
        "latency_first_ms": percentiles(early),
        "latency_last_ms": percentiles(late),
        "worker_pace_first": workers_pace(window, sampler, window_start, window_start + edge),
        "worker_pace_last": workers_pace(window, sampler, window_end - edge, window_end),
        "drop_rate": round(stats.get("frames_dropped", 0) / captured, 4) if captured else None,
        "received": len(results),
        "first_result_s": round(results[0].arrived - launched, 3) if results else None,
        "cpu_share": cores,
        "main_us_per_result": round(main_cores / throughput * 1e6, 1) if throughput else None,
        "wakeups_per_s": sampler.wakeups_per_s(window_start, window_end),
        "pss_kib": {
            k: v
            for k, v in sampler.pss_kib(window_start, window_end).items()
            if not k.startswith("mosquitto")
        },
        "memory_peak_kib": appliance_peaks,
        "memory_total_peak_kib": sum(appliance_peaks.values()),
        "memory_growth_kib": growth,
        "pid_count": len(appliance_peaks),
        "stats": stats,
    }

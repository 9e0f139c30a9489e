"""edgeeye itself, measured from the outside: a real broker and a real subscriber.

The appliance runs as ``edgeeye run`` in its own session; the subscriber timestamps every
result on arrival, so throughput is "classified and published and received per second" and
latency is capture (``captured_at``) to arrival.  Resident memory of every process of the
appliance is sampled once a second; peaks come from the kernel's own high-water mark.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeeye.bench.common import BenchModel
from edgeeye.errors import ChildProcessFailed
from edgeeye.publish.stats import percentiles
from edgeeye.tools.launcher import launch_run
from edgeeye.tools.local_broker import LocalBroker

DEVICE = "bench"


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


@dataclass
class Arrivals:
    """(arrival time, capture time, sequence) of every result, and the last stats."""

    results: list[tuple[float, float, int]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        document = json.loads(message.payload)
        if message.topic.endswith("/stats"):
            self.stats = document
            return
        captured = datetime.fromisoformat(document["captured_at"].replace("Z", "+00:00"))
        with self.lock:
            self.results.append((arrived, captured.timestamp(), document["sequence"]))


def edge_seconds(measure_s: float) -> float:
    """How much of the start and the end of a window is compared: 10 s, or a third."""
    return min(10.0, measure_s / 3)


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB, zeros if the process is gone."""
    rss = peak = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    except OSError:
        pass
    return rss, peak


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _session_processes(session: int, main_pid: int) -> dict[int, str]:
    """The processes of a session, named as ``ps`` shows them (children name themselves)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[3]) != session:
                continue
            name = (proc / "comm").read_text().strip()
            if int(proc.name) == main_pid:
                name = "edgeeye-main"
            elif b"resource_tracker" in (proc / "cmdline").read_bytes():
                name = "resource-tracker"
            found[int(proc.name)] = name
        except (OSError, IndexError, ValueError):
            continue
    return found


def run_appliance(model: BenchModel, plan: RunPlan, broker: LocalBroker) -> dict[str, Any]:
    """Run the appliance for warm-up + measurement and report what the subscriber saw."""
    arrivals = Arrivals()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.on_message = arrivals.on_message
    client.connect(broker.host, broker.port)
    client.subscribe([(f"edgeeye/{DEVICE}/result", 1), (f"edgeeye/{DEVICE}/stats", 0)])
    client.loop_start()
    memory: dict[int, list[tuple[float, int]]] = {}
    peaks: dict[int, tuple[str, int]] = {}
    cpu: dict[int, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        source = plan.source or (
            f"{{type: synthetic, width: {plan.width}, height: {plan.height}, fps: {plan.fps:.2f}}}"
        )
        config.write_text(
            f"device_id: {DEVICE}\nworkers: {plan.workers}\nsource: {source}\n"
            f"model: {{path: {model.spec.path}, labels: {model.labels_path}}}\n"
            f"mqtt: {{port: {broker.port}, stats_interval: 1}}\nlogging: {{level: WARNING}}\n"
            f"outbox: {{path: {Path(tmp) / 'outbox.sqlite3'}}}\n{plan.extra}\n"
        )
        duration = STARTUP_ALLOWANCE_S + plan.warmup_s + plan.measure_s
        errors_path = Path(tmp) / "stderr.txt"
        errors = errors_path.open("wb")
        process = launch_run(config, "--duration", str(duration), stderr=errors)
        errors.close()
        started = time.time()
        while process.poll() is None:
            for pid, name in _session_processes(process.pid, process.pid).items():
                rss, peak = _memory(pid)
                if rss:
                    memory.setdefault(pid, []).append((time.time() - started, rss))
                    cpu.setdefault(pid, []).append((time.time(), _cpu_seconds(pid)))
                    peaks[pid] = (name, max(peak, peaks.get(pid, (name, 0))[1]))
            time.sleep(1.0)
        process.wait()
        time.sleep(0.5)
        client.loop_stop()
        client.disconnect()
        if process.returncode != 0:
            lines = errors_path.read_text(errors="replace").strip().splitlines() or ["(nothing)"]
            raise ChildProcessFailed(
                f"bench: edgeeye run exited with {process.returncode}: {lines[-1]}"
            )
    summary = _summarise(arrivals, plan, started, memory, peaks)
    summary["cpu_share"] = _cpu_shares(cpu, peaks)
    return summary


def _cpu_shares(
    cpu: dict[int, list[tuple[float, float]]], peaks: dict[int, tuple[str, int]]
) -> dict[str, float]:
    """Each process's CPU use over its sampled life after warm-up, in cores (1.0 = one core)."""
    shares = {}
    for pid, samples in cpu.items():
        if len(samples) >= 4:
            (t0, c0), (t1, c1) = samples[len(samples) // 3], samples[-2]
            shares[f"{peaks[pid][0]}[{pid}]"] = round((c1 - c0) / (t1 - t0), 2)
    return shares


def _summarise(
    arrivals: Arrivals,
    plan: RunPlan,
    started: float,
    memory: dict[int, list[tuple[float, int]]],
    peaks: dict[int, tuple[str, int]],
) -> dict[str, Any]:
    # The appliance takes a moment to load models before capture starts: measure from the
    # first result, not from the process start.
    results = sorted(arrivals.results)
    first = results[0][0] if results else started
    window_start = first + plan.warmup_s
    # A slow start leaves less than the planned window: rate over what was really covered.
    window_end = min(window_start + plan.measure_s, results[-1][0] if results else window_start)
    covered_s = max(window_end - window_start, 1e-9)
    window = [r for r in results if window_start <= r[0] < window_end]
    latency = [(arrived - captured) * 1000 for arrived, captured, _ in window]
    edge = edge_seconds(covered_s)
    early = [(a - c) * 1000 for a, c, _ in window if a < window_start + edge]
    late = [(a - c) * 1000 for a, c, _ in window if a >= window_end - edge]
    stats = arrivals.stats
    captured = stats.get("frames_captured", 0)
    growth = {
        str(pid): samples[-2][1] - samples[len(samples) // 3][1]
        for pid, samples in memory.items()
        if len(samples) >= 4
    }
    return {
        "workers": plan.workers,
        "source_fps": plan.fps,
        "frame": f"{plan.width}x{plan.height}",
        "throughput_fps": round(len(window) / covered_s, 2),
        "measured_s": round(covered_s, 1),
        "latency_ms": percentiles(latency),
        "latency_first_ms": percentiles(early),
        "latency_last_ms": percentiles(late),
        "drop_rate": round(stats.get("frames_dropped", 0) / captured, 4) if captured else None,
        "received": len(results),
        "memory_peak_kib": {f"{name}[{pid}]": peak for pid, (name, peak) in peaks.items()},
        "memory_total_peak_kib": sum(peak for _, peak in peaks.values()),
        "memory_growth_kib": growth,
        "pid_count": len(peaks),
        "stats": stats,
        "cpu_count": os.cpu_count(),
    }

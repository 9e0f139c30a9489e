"""Frames per second of the real appliance, per worker count, through a real broker.

    EDGEEYE_MODEL_DIR=../shared/models python benchmarks/pipeline_fps.py --workers 1 2

Runs ``edgeeye run`` on the synthetic source against a private mosquitto, and reads the
appliance's own stats messages: throughput is the growth of ``frames_classified`` between
the first stats after ``--warmup`` seconds and the last one, so start-up is excluded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import paho.mqtt.client as mqtt

from edgeeye.tools.local_broker import LocalBroker


def measure(workers: int, args: argparse.Namespace, broker: LocalBroker) -> str:
    stats: list[dict] = []
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, message: stats.append(json.loads(message.payload))
    client.connect(broker.host, broker.port)
    client.subscribe("edgeeye/bench/stats")
    client.loop_start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(
            f"device_id: bench\nworkers: {workers}\n"
            f"source: {{type: synthetic, width: {args.width}, height: {args.height},"
            f" fps: {args.fps}}}\n"
            f"model: {{name: {args.model}}}\n"
            f"mqtt: {{port: {broker.port}, stats_interval: 1}}\nlogging: {{level: WARNING}}\n"
            f"outbox: {{path: {Path(tmp) / 'outbox.sqlite3'}}}\n"
        )
        command = [sys.executable, "-m", "edgeeye", "run", "--config", str(config)]
        subprocess.run([*command, "--duration", str(args.seconds + args.warmup)], check=True)
    client.loop_stop()
    client.disconnect()
    periodic = [s for s in stats if s["uptime_s"] >= args.warmup]
    first, last = periodic[0], periodic[-2]  # the very last one is the stop report
    rate = (last["frames_classified"] - first["frames_classified"]) / (
        last["uptime_s"] - first["uptime_s"]
    )
    latency = last["latency_ms"]
    return (
        f"workers={workers}: {rate:.1f} frames/s classified and published"
        f" (dropped {last['frames_dropped']}, latency p50 {latency['p50']} ms,"
        f" p99 {latency['p99']} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model", default="mobilenet_v2_1.0_224_quant")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=0, help="source rate; 0 = unthrottled")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    args = parser.parse_args()
    with LocalBroker() as broker:
        for workers in args.workers:
            print(measure(workers, args, broker), flush=True)


if __name__ == "__main__":
    main()

"""The publisher thread's CPU per result, alone: another checkout against this one.

    git worktree add /tmp/before HEAD~1
    python benchmarks/publisher_thread.py --before /tmp/before --rates 100,250 --rounds 5

A lone ``Publisher`` (no workers, no supervisor) on a private mosquitto is fed results by
another process at a steady rate, as a worker would feed it; what its thread spends per
published result is read from that thread's own CPU clock.  Each measurement runs in a
fresh interpreter whose ``PYTHONPATH`` is the tree under test (none for this one), the
order of the two trees alternating from round to round; prints every run, then the
medians.  Without ``--before``, this tree alone.  The appliance as a whole is compared by
``ab_trees.py``; this isolates the path one result takes through the main process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path


def _feed(writer: Connection, go: Event, rate: float, count: int) -> None:
    from edgeeye.pipeline.messages import Result

    labels = [(286, "Egyptian cat", 0.8125), (285, "tabby", 0.1), (287, "lynx", 0.05)]
    go.wait()
    due = time.monotonic()
    for sequence in range(count):
        due += 1.0 / rate
        time.sleep(max(0.0, due - time.monotonic()))
        writer.send(Result(sequence, time.monotonic_ns(), 0, labels, 9.0, 0))
    writer.close()


def _measure(rate: float, seconds: float, port: int) -> float:
    """In the child interpreter: microseconds of publisher-thread CPU per result."""
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="edgeeye-bench-")
    from edgeeye.config.app import AppConfig
    from edgeeye.mqtt.publisher import Publisher
    from edgeeye.publish.stats import PipelineCounts

    count = int(rate * seconds)
    reader, writer = multiprocessing.Pipe(duplex=False)
    go = multiprocessing.get_context("fork").Event()
    # Forked before the publisher has threads of its own.
    feeder = multiprocessing.get_context("fork").Process(
        target=_feed, args=(writer, go, rate, count)
    )
    feeder.start()
    writer.close()
    config = AppConfig.model_validate({"mqtt": {"host": "127.0.0.1", "port": port}})
    publisher = Publisher(config, "bench", PipelineCounts, queue.Queue())
    publisher.start()
    thread = next(t for t in threading.enumerate() if t.name == "edgeeye.publisher")
    assert thread.ident is not None
    time.sleep(1.0)  # connected, and "online", settings and discovery acknowledged
    publisher.add_worker(0, reader)
    clock = time.pthread_getcpuclockid(thread.ident)
    used = time.clock_gettime(clock)
    go.set()
    feeder.join(seconds + 30)
    deadline = time.monotonic() + 30
    while publisher.results_published < count and time.monotonic() < deadline:
        time.sleep(0.01)
    spent = time.clock_gettime(clock) - used
    published = publisher.results_published
    publisher.stop(3.0)
    if published < count:
        print(f"only {published} of {count} results published", file=sys.stderr)
    return spent / max(published, 1) * 1e6


def _run(tree: Path | None, rate: float, seconds: float, port: int) -> float:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    command = [sys.executable, __file__, "--measure", str(rate), str(seconds), str(port)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the other checkout")
    parser.add_argument("--rates", default="100,250", help="results per second, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        rate, seconds, port = args.measure
        print(f"{_measure(float(rate), float(seconds), int(port)):.1f}")
        return
    from edgeeye.tools.local_broker import LocalBroker

    trees: list[tuple[str, Path | None]] = [("this", None)]
    if args.before is not None:
        trees.insert(0, ("before", args.before.resolve()))
    rows: dict[tuple[float, str], list[float]] = {}
    with LocalBroker() as broker:
        for index in range(args.rounds):
            order = trees if index % 2 == 0 else trees[::-1]
            for rate in (float(r) for r in args.rates.split(",")):
                for name, tree in order:
                    us = _run(tree, rate, args.seconds, broker.port)
                    rows.setdefault((rate, name), []).append(us)
                    line = f"round {index + 1} {rate:g}/s {name}: {us:.0f} us per result"
                    print(line, flush=True)
    print("\nmedians (publisher thread CPU per result)")
    for (rate, name), values in sorted(rows.items()):
        print(f"{rate:>7g}/s {name:<6} {statistics.median(values):7.0f} us")


if __name__ == "__main__":
    main()

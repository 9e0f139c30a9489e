"""Two versions of the appliance side by side: another checkout against this one.

    git worktree add /tmp/before HEAD~1
    python benchmarks/ab_trees.py --before /tmp/before --rounds 5 --loads 1.1,0.5,5fps

Each round measures the ceiling (the bare interpreter on one core), then runs ``edgeeye
run`` from each tree at each load, the order of the two alternating from round to round,
against one private mosquitto counted by ``mosquitto_sub`` (``edgeeye.bench.appliance``).
A load is a fraction of the round's ceiling for all workers, or a steady rate (``5fps``).
Prints every run, then the medians: throughput against the ceiling, the main process's
CPU per result, p99 latency, CPU per frame of all the appliance's processes, context
switches per second, and start to first result.  The other tree's code is run through
``PYTHONPATH``; the bench itself, the broker and the subscriber are this tree's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeeye.bench.appliance import RunPlan, run_appliance, worker_cores
from edgeeye.bench.bytecode import compile_as_installed
from edgeeye.bench.ceiling import single_core_rate
from edgeeye.bench.common import BenchModel
from edgeeye.inference.model import inspect_model
from edgeeye.tools.local_broker import LocalBroker

FIGURES = (
    "of_ceiling",
    "worker_fps_per_core",
    "main_us",
    "p99_ms",
    "cpu_ms_per_frame",
    "switches_per_s",
    "first_s",
)


def _run(model: BenchModel, fps: float, ceiling: float, args: argparse.Namespace, broker) -> dict:
    plan = RunPlan(workers=args.workers, fps=fps, warmup_s=3.0, measure_s=args.seconds)
    run = run_appliance(model, plan, broker)
    appliance = {k: v for k, v in run["cpu_share"].items() if not k.startswith("mosquitto")}
    switches = {k: v for k, v in run["wakeups_per_s"].items() if not k.startswith("mosquitto")}
    return {
        "of_ceiling": run["throughput_fps"] / (ceiling * args.workers),
        # Frames per CPU-second the workers got: their own pace, whatever the load.
        "worker_fps_per_core": run["throughput_fps"] / max(worker_cores(run["cpu_share"]), 1e-9),
        "main_us": run["main_us_per_result"],
        "p99_ms": run["latency_ms"].get("p99"),
        "cpu_ms_per_frame": sum(appliance.values()) / max(run["throughput_fps"], 1e-9) * 1e3,
        "switches_per_s": sum(switches.values()),
        "first_s": run["first_result_s"],
    }


def _use_tree(tree: Path | None, expected: Path) -> None:
    """Make ``edgeeye run``, started from here, import ``tree`` (None: this checkout's
    install), and check that it does."""
    if tree is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = str(tree)
    found = subprocess.run(
        [sys.executable, "-c", "import edgeeye; print(edgeeye.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(expected):
        raise SystemExit(f"ab_trees: edgeeye came from {found}, not from {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loads", default="1.1,0.5,5fps")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    models = Path(os.environ.get("EDGEEYE_TEST_DATA", "../shared")) / "models"
    parser.add_argument("--model", type=Path, default=models / "mobilenet_v2_1.0_224_quant.tflite")
    parser.add_argument("--labels", type=Path, default=models / "imagenet_labels.txt")
    args = parser.parse_args()
    model_path, labels = args.model.resolve(), args.labels.resolve()
    model = BenchModel(model_path.stem, inspect_model(model_path, labels), labels)
    loads = args.loads.split(",")
    trees_at = {"before": args.before.resolve(), "after": Path(__file__).resolve().parents[1]}
    for tree, root in trees_at.items():
        print(f"{tree}: edgeeye's modules: {compile_as_installed(root / 'edgeeye')}", flush=True)
    # ``python -m edgeeye`` puts its working directory first on sys.path: started from a
    # checkout, it would run that checkout whatever PYTHONPATH says.
    os.chdir(tempfile.mkdtemp(prefix="ab-trees-"))
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with LocalBroker() as broker:
        for index in range(args.rounds):
            ceiling = single_core_rate(model, 640, 480, 3.0)
            trees = ("before", "after") if index % 2 == 0 else ("after", "before")
            for load in loads:
                fps = float(load[:-3]) if load.endswith("fps") else float(load) * ceiling
                for tree in trees:
                    _use_tree(trees_at["before"] if tree == "before" else None, trees_at[tree])
                    row = _run(
                        model,
                        fps * (1 if load.endswith("fps") else args.workers),
                        ceiling,
                        args,
                        broker,
                    )
                    rows.setdefault((load, tree), []).append(row)
                    print(f"round {index + 1} load {load} {tree}: {row}", flush=True)
    os.environ.pop("PYTHONPATH", None)
    print("\nmedians")
    for (load, tree), runs in sorted(rows.items()):
        medians = {
            name: round(statistics.median(r[name] for r in runs), 3)
            for name in FIGURES
            if all(r[name] is not None for r in runs)
        }
        print(f"{load:>6} {tree:<6} {medians}")


if __name__ == "__main__":
    main()

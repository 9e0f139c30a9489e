"""The chaos run: schedule faults at random, keep the appliance going, then balance the ledger.

Reads: the repo's default model and demo photographs.  Writes: a report (printed, and as
JSON with ``--output``).  Exits 0 when the ledger balances, the appliance exited 0 when
stopped, and nothing was left behind; 1 otherwise.  The seed is printed first, so a run can
be replayed with ``--seed``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeeye.bench.chaos.faults import SLOTS, WORKERS, Appliance, Faults, Kind
from edgeeye.bench.chaos.ledger import balance, parse
from edgeeye.bench.chaos.proxy import LinkProxy
from edgeeye.bench.processes import session_processes
from edgeeye.bench.subscriber import _mosquitto_sub
from edgeeye.pipeline.segment import SEGMENT_PREFIX, SHM_DIR
from edgeeye.tools.local_broker import LocalBroker

REPO = Path(__file__).resolve().parents[3]
DEVICE = "chaos"
KEEPALIVE_S = 5
#: Seconds between one fault's end and the next one's start.
PAUSE_S = (3.0, 10.0)


def _config_text(port: int, outbox: Path) -> str:
    return (
        f"device_id: {DEVICE}\nworkers: {WORKERS}\nring: {{slots: {SLOTS}}}\n"
        f"source: {{type: images, path: {REPO / 'edgeeye' / 'tools' / 'photos'}, fps: 15}}\n"
        f"model: {{path: {REPO / 'models' / 'mobilenet_v2_1.0_224_quant.tflite'},"
        f" labels: {REPO / 'models' / 'imagenet_labels.txt'}, min_score: 0.0}}\n"
        f"mqtt: {{port: {port}, keepalive: {KEEPALIVE_S}, stats_interval: 1, qos: 1}}\n"
        "supervisor: {invoke_deadline_s: 5.0}\n"
        "logging: {level: INFO}\n"
        f"outbox: {{path: {outbox}}}\n"
    )


def _small_filesystem(folder: Path) -> Path | None:
    """A 16 MiB tmpfs of our own for the outbox, so it can be filled; None where we may not."""
    if os.geteuid() != 0:
        return None
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)])
    return folder if done.returncode == 0 else None


class _Memory:
    """Resident memory of every process of the appliance, by name, every few seconds."""

    def __init__(self) -> None:
        self.readings: dict[str, list[tuple[float, int]]] = {}

    def sample(self, session: int) -> None:
        now = time.monotonic()
        for pid, name in session_processes(session, session).items():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.readings.setdefault(name, []).append((now, int(line.split()[1])))

    def growth(self) -> dict[str, dict[str, float]]:
        """Median RSS of the first and the last third of the run, MiB."""
        out = {}
        for name, readings in self.readings.items():
            if len(readings) < 6:
                continue
            third = len(readings) // 3
            first = statistics.median(r for _, r in readings[:third]) / 1024
            last = statistics.median(r for _, r in readings[-third:]) / 1024
            out[name] = {"first_mib": round(first, 1), "last_mib": round(last, 1)}
        return out


def _left_after(session: int, timeout: float) -> dict[int, str]:
    """The session's processes still there ``timeout`` s after its leader exited."""
    deadline = time.monotonic() + timeout
    while (left := session_processes(session, -1)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _segments() -> set[str]:
    return {p.name for p in SHM_DIR.glob(f"{SEGMENT_PREFIX}*")}


def _recoveries(
    faults: list[dict[str, Any]], arrivals: list[tuple[float, float]]
) -> dict[str, dict[str, float]]:
    """Per kind: seconds from a fault's end to the first result captured after it."""
    times: dict[str, list[float]] = {}
    for fault in faults:
        after = [a for a, captured in arrivals if captured >= fault["ended"]]
        if after:
            times.setdefault(fault["kind"], []).append(min(after) - fault["ended"])
    return {
        kind: {
            "count": len(v),
            "p50_s": round(statistics.median(v), 2),
            "worst_s": round(max(v), 2),
        }
        for kind, v in times.items()
    }


def chaos(seconds: float, seed: int, progress: Any = print) -> dict[str, Any]:
    rng = random.Random(seed)
    progress(f"chaos run: seed {seed}, {seconds:.0f} s")
    with tempfile.TemporaryDirectory(prefix="edgeeye-chaos-") as tmp:
        folder = Path(tmp)
        outbox_fs = _small_filesystem(folder / "outbox-fs")
        outbox = (outbox_fs or folder) / "outbox.sqlite3"
        shm_before = _segments()
        broker = LocalBroker(persistent=True).start()
        proxy = LinkProxy(broker.port).start()
        received_path = folder / "received.txt"
        topics = ["-t", f"edgeeye/{DEVICE}/result", "-t", f"edgeeye/{DEVICE}/stats"]
        base = [_mosquitto_sub(), "-p", str(broker.port), "-q", "1", "-c", "-i", "chaos-ledger"]
        subprocess.run([*base, *topics, "-E"], check=True, timeout=10)  # the session, first
        with received_path.open("w") as out:
            subscriber = subprocess.Popen([*base, *topics, "-F", "%U %t %p"], stdout=out)
        config = folder / "edgeeye.yaml"
        text = _config_text(proxy.port, outbox)
        config.write_text(text)
        appliance = Appliance(config, folder / "appliance.log")
        faults = Faults(appliance, broker, proxy, rng, text, outbox_fs, KEEPALIVE_S)
        memory = _Memory()
        done: list[dict[str, Any]] = []
        try:
            appliance.start()
            started = time.monotonic()
            kinds: list[Kind] = []
            next_fault = started + rng.uniform(*PAUSE_S)
            while time.monotonic() < started + seconds:
                memory.sample(appliance.pid)
                if appliance.process is not None and appliance.process.poll() is not None:
                    progress(f"  the appliance exited {appliance.process.returncode}; starting it")
                    appliance.exit_codes.append(appliance.process.returncode)
                    appliance.start()  # as systemd would
                if time.monotonic() < next_fault:
                    time.sleep(min(1.0, max(0.0, next_fault - time.monotonic())))
                    continue
                if not kinds:  # every kind once, in a random order, then again
                    kinds = list(Kind)
                    rng.shuffle(kinds)
                kind = kinds.pop()
                began = time.time()
                what = faults.do(kind)
                done.append(
                    {"kind": kind.value, "began": began, "ended": time.time(), "what": what}
                )
                progress(f"  {time.monotonic() - started:6.1f} s  {kind.value}: {what}")
                next_fault = time.monotonic() + rng.uniform(*PAUSE_S)
            time.sleep(3.0)  # the last results of the last fault
            final_code = appliance.stop()
            leftovers = _left_after(appliance.pid, 5.0)
        finally:
            if appliance.process is not None and appliance.process.poll() is None:
                appliance.process.kill()
            time.sleep(1.0)  # the subscriber takes what is still on its way
            subscriber.terminate()
            subscriber.wait(5)
            proxy.close()
            broker.close()
            if outbox_fs is not None:
                subprocess.run(["umount", "-l", str(outbox_fs)], check=False)
        lines = received_path.read_text(errors="replace").splitlines()
        results, stats = parse(lines)
        arrivals = [(float(r["_arrived"]), _captured(r)) for r in results]
        ledger = balance(results, stats, appliance.records)
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(arrivals)]
        report = {
            "seed": seed,
            "seconds": seconds,
            "faults": done,
            "ledger": ledger.lines(),
            "ledger_balances": ledger.balances,
            "totals": ledger.totals(),
            "recovery": _recoveries(done, arrivals),
            "longest_gap_s": round(max(gaps, default=0.0), 2),
            "half_open_noticed_s": [round(s, 2) for s in faults.noticed_half_open_s],
            "keepalive_s": KEEPALIVE_S,
            "memory": memory.growth(),
            "exit_codes": appliance.exit_codes,
            "final_exit": final_code,
            "left_processes": leftovers,
            "left_segments": sorted(_segments() - shm_before),
            "stderr_tail": (folder / "appliance.log").read_text(errors="replace")[-3000:],
        }
    return report


def _captured(result: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(result["captured_at"].replace("Z", "+00:00")).timestamp()


def passed(report: dict[str, Any]) -> bool:
    return (
        report["ledger_balances"]
        and report["final_exit"] == 0
        and not report["left_processes"]
        and not report["left_segments"]
    )


def print_report(report: dict[str, Any]) -> None:
    print(f"\nseed {report['seed']}, {report['seconds']:.0f} s, {len(report['faults'])} faults")
    print("\n".join(report["ledger"]))
    print("\nrecovery (fault undone -> first result captured after it):")
    for kind, figures in sorted(report["recovery"].items()):
        print(
            f"  {kind:28s} x{figures['count']:<3} p50 {figures['p50_s']:6.2f} s"
            f"  worst {figures['worst_s']:6.2f} s"
        )
    print(f"longest gap between results: {report['longest_gap_s']} s")
    print(
        f"half-open link noticed after: {report['half_open_noticed_s']} s"
        f" (keepalive {report['keepalive_s']} s, target at most {1.5 * report['keepalive_s']} s)"
    )
    print("resident memory, first third -> last third of the run (MiB):")
    for name, figures in sorted(report["memory"].items()):
        print(f"  {name:18s} {figures['first_mib']:7.1f} -> {figures['last_mib']:7.1f}")
    print(f"appliance exit codes: {report['exit_codes']} (the last is the SIGTERM at the end)")
    print(f"left behind: processes {report['left_processes']}, segments {report['left_segments']}")
    print("PASS" if passed(report) else "FAIL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgeeye-chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--output", type=Path, help="write the report as JSON here too")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    report = chaos(args.seconds, seed, progress=lambda line: print(line, flush=True))
    print_report(report)
    if args.output:
        args.output.write_text(json.dumps(report, indent=1))
    return 0 if passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())

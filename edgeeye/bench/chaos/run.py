"""The chaos run: schedule faults at random, keep the appliance going, then balance the ledger.

Reads: the repo's default model and demo photographs.  Writes: a report (printed, and as
JSON with ``--output``).  Exits 0 when the ledger balances, the appliance exited 0 when
stopped, and nothing was left behind; 1 otherwise.  The seed is printed first, so a run can
be replayed with ``--seed``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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
from edgeeye.bench.processes import sample, session_processes
from edgeeye.bench.subscriber import Subscriber
from edgeeye.pipeline.segment import SEGMENT_PREFIX, SHM_DIR
from edgeeye.tools.local_broker import LocalBroker

REPO = Path(__file__).resolve().parents[3]
DEVICE = "chaos"
KEEPALIVE_S = 5
#: Runs this long are long enough to judge growth by; shorter ones are mostly warm-up.
LONG_RUN_S = 1200.0
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


class _Resources:
    """Resident memory and open descriptors of every process of the appliance, by name."""

    def __init__(self) -> None:
        self.rss_kib: dict[str, list[int]] = {}
        self.fds: dict[str, list[int]] = {}

    def sample(self, session: int) -> None:
        for pid, name in session_processes(session, session).items():
            found = sample(pid, with_pss=False)
            with contextlib.suppress(OSError):  # gone meanwhile
                fds = len(os.listdir(f"/proc/{pid}/fd"))
                if found is not None:
                    self.rss_kib.setdefault(name, []).append(found.rss_kib)
                    self.fds.setdefault(name, []).append(fds)

    def growth(self) -> dict[str, dict[str, float]]:
        """Medians of the middle and the last third of the run: the first third is the
        warm-up (pages of the model and the ring touched for the first time)."""
        out = {}
        for name, rss in self.rss_kib.items():
            if len(rss) < 9:
                continue
            third = len(rss) // 3
            fds = self.fds[name]
            out[name] = {
                "middle_mib": round(statistics.median(rss[third:-third]) / 1024, 1),
                "last_mib": round(statistics.median(rss[-third:]) / 1024, 1),
                "middle_fds": statistics.median(fds[third:-third]),
                "last_fds": statistics.median(fds[-third:]),
            }
        return out


def _flat(growth: dict[str, dict[str, float]]) -> bool:
    """Nothing grows: the last third within 5% (and 2 MiB) of the middle third's memory,
    and within 2 of its open descriptors."""
    return all(
        g["last_mib"] <= g["middle_mib"] * 1.05 + 2 and g["last_fds"] <= g["middle_fds"] + 2
        for g in growth.values()
    )


def _own_fds() -> set[tuple[str, str]]:
    """This process's open descriptors, each as (number, what it points at).

    Compared as sets, a descriptor the caller closes meanwhile (a socket it dropped before
    the run) cannot hide one the run left open.  Collected first: a descriptor held only by
    unreachable objects is garbage, not a leak.
    """
    gc.collect()
    opened = set()
    for number in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own, closed by now
            opened.add((number, os.readlink(f"/proc/self/fd/{number}")))
    return opened


def _left_after(session: int, timeout: float) -> dict[int, str]:
    """The session's processes still there ``timeout`` s after its leader exited."""
    deadline = time.monotonic() + timeout
    while (left := session_processes(session, -1)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _segments(pids: set[int]) -> set[str]:
    """The appliance's shared memory: its segment names carry the main process's pid."""
    return {
        p.name
        for p in SHM_DIR.glob(f"{SEGMENT_PREFIX}*")
        if p.name.removeprefix(SEGMENT_PREFIX).split("_")[0] in {str(pid) for pid in pids}
    }


def _recoveries(
    faults: list[dict[str, Any]], arrivals: list[tuple[float, float]]
) -> dict[str, dict[str, Any]]:
    """Per kind: seconds from a fault's end to the first result captured after it.

    A recovery the next fault began before is *overlapped*: it measures both faults, so its
    own worst is reported apart (``worst_alone_s``) beside the worst of all.
    """
    times: dict[str, list[tuple[float, bool]]] = {}
    for index, fault in enumerate(faults):
        after = [a for a, captured in arrivals if captured >= fault["ended"]]
        if not after:
            continue
        first = min(after)
        next_began = faults[index + 1]["began"] if index + 1 < len(faults) else float("inf")
        times.setdefault(fault["kind"], []).append((first - fault["ended"], first <= next_began))
    report: dict[str, dict[str, Any]] = {}
    for kind, entries in times.items():
        seconds = [s for s, _ in entries]
        alone = [s for s, by_itself in entries if by_itself]
        report[kind] = {
            "count": len(entries),
            "p50_s": round(statistics.median(seconds), 2),
            "worst_s": round(max(seconds), 2),
            "overlapped": len(entries) - len(alone),
            "worst_alone_s": round(max(alone), 2) if alone else None,
        }
    return report


def chaos(seconds: float, seed: int, progress: Any = print) -> dict[str, Any]:
    rng = random.Random(seed)
    progress(f"chaos run: seed {seed}, {seconds:.0f} s")
    with tempfile.TemporaryDirectory(prefix="edgeeye-chaos-") as tmp:
        folder = Path(tmp)
        outbox_fs = _small_filesystem(folder / "outbox-fs")
        outbox = (outbox_fs or folder) / "outbox.sqlite3"
        fds_before = _own_fds()
        broker = LocalBroker(persistent=True).start()
        proxy = LinkProxy(broker.port).start()
        topics = [f"edgeeye/{DEVICE}/result", f"edgeeye/{DEVICE}/stats"]
        subscriber = Subscriber(broker, topics, folder).__enter__()
        config = folder / "edgeeye.yaml"
        text = _config_text(proxy.port, outbox)
        config.write_text(text)
        appliance = Appliance(config, folder / "appliance.log")
        faults = Faults(appliance, broker, proxy, rng, text, outbox_fs, KEEPALIVE_S)
        resources = _Resources()
        done: list[dict[str, Any]] = []
        try:
            appliance.start()
            started = time.monotonic()
            kinds: list[Kind] = []
            next_fault = started + rng.uniform(*PAUSE_S)
            while time.monotonic() < started + seconds:
                resources.sample(appliance.pid)
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
            subscriber.stop()
            proxy.close()
            broker.close()
            if outbox_fs is not None:
                subprocess.run(["umount", "-l", str(outbox_fs)], check=False)
        lines = subscriber.lines()
        results, stats = parse(lines)
        arrivals = [(float(r["_arrived"]), _captured(r)) for r in results]
        ledger = balance(results, stats, appliance.records, window=SLOTS + WORKERS)
        growth = resources.growth()
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
            "growth": growth,
            "flat": _flat(growth),
            "exit_codes": appliance.exit_codes,
            "final_exit": final_code,
            "left_processes": leftovers,
            "left_segments": sorted(_segments({r.pid for r in appliance.records})),
            "left_fds": len(_own_fds() - fds_before),
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
        and report["left_fds"] == 0
        and (report["flat"] or report["seconds"] < LONG_RUN_S)
    )


def print_report(report: dict[str, Any]) -> None:
    print(f"\nseed {report['seed']}, {report['seconds']:.0f} s, {len(report['faults'])} faults")
    print("\n".join(report["ledger"]))
    print("\nrecovery (fault undone -> first result captured after it arrives):")
    print(f"  {'':28s} {'count':>5} {'p50':>7} {'worst':>7} {'overlapped':>10} {'worst alone':>11}")
    for kind, figures in sorted(report["recovery"].items()):
        alone = "-" if figures["worst_alone_s"] is None else f"{figures['worst_alone_s']:.2f}s"
        print(
            f"  {kind:28s} {figures['count']:5d} {figures['p50_s']:6.2f}s"
            f" {figures['worst_s']:6.2f}s {figures['overlapped']:10d} {alone:>11}"
        )
    print(f"longest gap between results: {report['longest_gap_s']} s")
    print(
        f"half-open link noticed after: {report['half_open_noticed_s']} s"
        f" (keepalive {report['keepalive_s']} s, target at most {1.5 * report['keepalive_s']} s)"
    )
    print("resident memory (MiB) and open descriptors, middle third -> last third of the run:")
    for name, g in sorted(report["growth"].items()):
        print(
            f"  {name:18s} {g['middle_mib']:7.1f} -> {g['last_mib']:7.1f} MiB"
            f"   {g['middle_fds']:5.0f} -> {g['last_fds']:5.0f} fds"
        )
    judged = "" if report["seconds"] >= LONG_RUN_S else f" (judged from {LONG_RUN_S:.0f} s)"
    print(f"nothing grew: {report['flat']}{judged}")
    print(f"appliance exit codes: {report['exit_codes']} (the last is the SIGTERM at the end)")
    print(
        f"left behind: processes {report['left_processes']},"
        f" segments {report['left_segments']}, descriptors {report['left_fds']}"
    )
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

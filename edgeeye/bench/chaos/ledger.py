"""Every frame accounted for: what became of each sequence number of each start.

Per start of the appliance (its ``run`` id), the appliance's own counters say how many
frames capture issued (sequence numbers 0 to ``frames_captured`` - 1) and what it did not
send on purpose: dropped under overload (``frames_dropped``), suppressed by the publish
policy, dropped from a full outbox, lost with a worker that died holding it.  A start
that ended with SIGTERM published its final counters; one killed with SIGKILL published
none, so its counters are read where they lived, in the frame ring's shared memory,
before the next start removes it (the publisher's counts from its last stats, a second
old at most).  The rest must have reached the
subscriber, at least once; only what a killed appliance held in memory may be missing
(its ring, its pipes and its window of unacknowledged messages): a bound, not a count.

Order: the outbox sends oldest first and new results join its tail, so within a start a
result arrives behind a later one only by the few frames the workers have in flight at
once (``window``); ``out_of_order`` counts first deliveries further behind than that.

Unreadable frames (``frames_skipped``) get no sequence number: capture numbers only the
frames it hands on, so they are counted beside the ledger, not in it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunRecord:
    """One start of the appliance, as the chaos run saw it."""

    pid: int
    ended_by_kill: bool = False
    #: From the ring after a SIGKILL: frames captured, dropped, skipped.
    ring_counts: dict[str, int] | None = None
    #: Frames a killed appliance may have held: the bound on what may be missing.
    in_memory_allowance: int = 0


@dataclass
class RunLedger:
    run: str
    issued: int
    received: int
    duplicates: int
    dropped: int
    suppressed: int
    outbox_dropped: int
    skipped: int
    lost: int
    missing: int  # issued, neither received nor counted
    allowance: int  # what kills may have taken with them
    out_of_order: int

    @property
    def balances(self) -> bool:
        return 0 <= self.missing <= self.allowance


@dataclass
class Ledger:
    runs: list[RunLedger] = field(default_factory=list)
    unknown_runs: list[str] = field(default_factory=list)

    @property
    def balances(self) -> bool:
        return not self.unknown_runs and all(run.balances for run in self.runs)

    def totals(self) -> dict[str, int]:
        keys = (
            *("issued", "received", "duplicates", "dropped", "suppressed"),
            *("outbox_dropped", "lost", "skipped", "missing", "allowance", "out_of_order"),
        )
        return {key: sum(getattr(run, key) for run in self.runs) for key in keys}

    def lines(self) -> list[str]:
        out = [_row("run", *_COLUMNS)]
        for r in self.runs:
            figures = (getattr(r, key) for key in _COLUMNS)
            out.append(_row(r.run, *figures) + ("" if r.balances else "  DOES NOT BALANCE"))
        totals = self.totals()
        out.append(_row("total", *(totals[key] for key in _COLUMNS)))
        if self.unknown_runs:
            out.append(f"results from runs the chaos run never started: {self.unknown_runs}")
        out.append("the ledger balances" if self.balances else "THE LEDGER DOES NOT BALANCE")
        return out


_COLUMNS = (
    *("issued", "received", "duplicates", "dropped", "suppressed", "outbox_dropped"),
    *("lost", "missing", "allowance", "skipped", "out_of_order"),
)
_HEADINGS = {
    "duplicates": "dup",
    "suppressed": "suppr",
    "outbox_dropped": "outbox",
    "allowance": "allowed",
    "out_of_order": "reorder",
}


def _row(run: object, *figures: object) -> str:
    cells = [f"{_HEADINGS.get(str(f), f)!s:>8}" for f in figures]
    return f"{run!s:>12} " + " ".join(cells)


def parse(lines: list[str]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """mosquitto_sub ``-F '%U %t %p'`` lines: results in arrival order, last stats per run."""
    results, stats = [], {}
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        try:
            document = json.loads(parts[2])
        except ValueError:
            continue
        if not isinstance(document, dict) or "run" not in document:
            continue
        if parts[1].endswith("/result"):
            document["_arrived"] = float(parts[0])  # mosquitto_sub's %U: when it arrived
            results.append(document)
        elif parts[1].endswith("/stats"):
            stats[document["run"]] = document  # arrival order: the last one wins
    return results, stats


def balance(
    results: list[dict[str, Any]],
    stats: dict[str, dict[str, Any]],
    runs: list[RunRecord],
    window: int,
) -> Ledger:
    by_pid = {record.pid: record for record in runs}
    seen: dict[str, Counter[int]] = {}
    last_sequence: dict[str, int] = {}
    out_of_order: Counter[str] = Counter()
    for result in results:
        run, sequence = result["run"], int(result["sequence"])
        counts = seen.setdefault(run, Counter())
        if sequence < last_sequence.get(run, -1) - window and counts[sequence] == 0:
            out_of_order[run] += 1  # a first delivery further behind than the workers reorder
        last_sequence[run] = max(sequence, last_sequence.get(run, -1))
        counts[sequence] += 1
    ledger = Ledger()
    for run in sorted(set(seen) | set(stats), key=lambda r: int(r.split("-")[0])):
        record = by_pid.get(int(run.split("-")[0]))
        if record is None:
            ledger.unknown_runs.append(run)
            continue
        last = stats.get(run, {})
        ring = record.ring_counts if record.ended_by_kill and record.ring_counts else None
        issued = ring["frames_captured"] if ring else int(last.get("frames_captured", 0))
        dropped = ring["frames_dropped"] if ring else int(last.get("frames_dropped", 0))
        skipped = ring["frames_skipped"] if ring else int(last.get("frames_skipped", 0))
        lost = ring["frames_lost"] if ring else int(last.get("frames_lost", 0))
        counts = seen.get(run, Counter())
        received = sum(1 for sequence in counts if 0 <= sequence < issued)
        suppressed = int(last.get("results_suppressed", 0))
        outbox_dropped = int(last.get("outbox_dropped", 0))
        ledger.runs.append(
            RunLedger(
                run=run,
                issued=issued,
                received=received,
                duplicates=sum(n - 1 for n in counts.values()),
                dropped=dropped,
                suppressed=suppressed,
                outbox_dropped=outbox_dropped,
                skipped=skipped,
                lost=lost,
                missing=issued - received - dropped - suppressed - outbox_dropped - lost,
                allowance=record.in_memory_allowance,
                out_of_order=out_of_order[run],
            )
        )
    return ledger

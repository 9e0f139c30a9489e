"""What the bench reads about a process from the kernel: CPU (its CPU clock), memory (RSS,
peak, PSS) and wake-ups (/proc).

Every figure is the kernel's own count, read from outside, so measuring costs the measured
processes nothing.  PSS (proportional set size) counts a page shared by n processes as 1/n
in each, so the sum over processes is what they hold together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProcessSample:
    at: float  # time.time() of the reading
    cpu_s: float  # user + system, all threads
    rss_kib: int
    peak_kib: int  # VmHWM: the kernel's high-water mark of RSS
    pss_kib: int
    switches: int  # voluntary + involuntary context switches of all threads: wake-ups


def cpu_seconds(pid: int) -> float:
    """CPU time a process (all its threads, ended ones too) has used so far; 0 if gone.

    Read from the kernel's CPU clock of the process, in nanoseconds: ``/proc/<pid>/stat``
    counts in clock ticks (10 ms), which at 5 frames/s over 10 s is 0.2 ms per frame for
    every process, more than the differences the slow-camera figure is about.
    """
    try:
        return time.clock_gettime(_process_cpu_clock(pid))
    except OSError:
        return 0.0


def _process_cpu_clock(pid: int) -> int:
    # Linux's clock id for another process's CPU time, as glibc's clock_getcpuclockid()
    # makes it: the pid, inverted, above CPUCLOCK_SCHED (2), the scheduler's own count.
    return (~pid << 3) | 2


def _status_fields(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    found = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            found[key] = int(value.split()[0])
    return found


def context_switches(pid: int) -> int:
    """Context switches of every thread of a process so far: each is a wake-up (or a
    preemption, which costs the same caches)."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    for task in tasks:
        try:
            counts = _status_fields(
                task / "status", ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
            )
        except OSError:
            continue  # a thread that ended between the listing and the read
        total += sum(counts.values())
    return total


def sample(pid: int, with_pss: bool = True) -> ProcessSample | None:
    """One reading of a process, None if it is gone."""
    try:
        memory = _status_fields(Path(f"/proc/{pid}/status"), ("VmRSS", "VmHWM"))
        pss = 0
        if with_pss:
            pss = _status_fields(Path(f"/proc/{pid}/smaps_rollup"), ("Pss",)).get("Pss", 0)
    except (OSError, ValueError):
        return None
    if not memory.get("VmRSS"):
        return None  # a zombie, or a kernel thread
    return ProcessSample(
        at=time.time(),
        cpu_s=cpu_seconds(pid),
        rss_kib=memory["VmRSS"],
        peak_kib=memory.get("VmHWM", 0),
        pss_kib=pss,
        switches=context_switches(pid),
    )


def session_processes(session: int, main_pid: int) -> dict[int, str]:
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
            elif name.startswith("edgeeye-"):
                pass  # a child that has named itself
            elif b"resource_tracker" in (proc / "cmdline").read_bytes():
                name = "resource-tracker"
            elif b"forkserver" in (proc / "cmdline").read_bytes():
                name = "child-server"  # or a child just forked, until it names itself
            found[int(proc.name)] = name
        except (OSError, IndexError, ValueError):
            continue
    return found


@dataclass
class Sampler:
    """Samples a changing set of processes once a second on a thread of its own.

    ``find`` returns the processes to read now ({pid: name}); a process that appears later
    (a restarted worker) is picked up at the next reading.
    """

    find: Callable[[], dict[int, str]]
    interval_s: float = 1.0
    with_pss: bool = True
    samples: dict[int, list[ProcessSample]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            self.read_once()
            if self._stop.wait(self.interval_s):
                return

    def read_once(self) -> None:
        for pid, name in self.find().items():
            reading = sample(pid, self.with_pss)
            if reading is not None:
                self.samples.setdefault(pid, []).append(reading)
                self.names[pid] = name

    def label(self, pid: int) -> str:
        return f"{self.names[pid]}[{pid}]"

    def between(self, start: float, end: float) -> dict[int, tuple[ProcessSample, ProcessSample]]:
        """Per process, its first and last reading inside [start, end] (two at least)."""
        spans = {}
        for pid, readings in self.samples.items():
            inside = [r for r in readings if start <= r.at <= end]
            if len(inside) >= 2:
                spans[pid] = (inside[0], inside[-1])
        return spans

    def cores(self, start: float, end: float) -> dict[str, float]:
        """Each process's CPU use between two times, in cores (1.0 = one core)."""
        return {
            self.label(pid): round((last.cpu_s - first.cpu_s) / (last.at - first.at), 5)
            for pid, (first, last) in self.between(start, end).items()
        }

    def wakeups_per_s(self, start: float, end: float) -> dict[str, float]:
        return {
            self.label(pid): round((last.switches - first.switches) / (last.at - first.at), 2)
            for pid, (first, last) in self.between(start, end).items()
        }

    def pss_kib(self, start: float, end: float) -> dict[str, int]:
        """Each process's PSS at its last reading in the window."""
        return {
            self.label(pid): last.pss_kib for pid, (_, last) in self.between(start, end).items()
        }

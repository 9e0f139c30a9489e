"""The bench's reading of another process's CPU: exact, and every thread's, ended or not;
and what it derives from those readings."""

from __future__ import annotations

import subprocess
import sys
import time

from edgeeye.bench.appliance import workers_pace
from edgeeye.bench.processes import ProcessSample, Sampler, cpu_seconds
from edgeeye.bench.subscriber import Arrival

# Burns 0.25 s of CPU in a thread that then ends, says so, and waits to be killed.
_BURNER = """
import threading, time
def burn():
    started = time.thread_time()
    while time.thread_time() - started < 0.25:
        pass
worker = threading.Thread(target=burn)
worker.start()
worker.join()
print(time.process_time(), flush=True)
time.sleep(60)
"""


def test_cpu_seconds_counts_an_ended_thread_to_the_nanosecond():
    child = subprocess.Popen([sys.executable, "-c", _BURNER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        own_count = float(child.stdout.readline())  # the child's own process CPU clock
        seen = cpu_seconds(child.pid)
        assert own_count >= 0.25
        # The same clock read from outside: what it used after its own reading is only
        # the print and the start of its sleep, far less than a 10 ms clock tick.
        assert own_count <= seen < own_count + 0.005
    finally:
        child.kill()
        child.wait(5)
    time.sleep(0.05)
    assert cpu_seconds(child.pid) == 0.0  # gone (reaped): nothing to read


def _reading(at: float, cpu_s: float) -> ProcessSample:
    return ProcessSample(at=at, cpu_s=cpu_s, rss_kib=0, peak_kib=0, pss_kib=0, switches=0)


def test_the_workers_pace_is_results_over_their_cpu_in_each_part_of_a_run():
    # Two workers, readings once a second over 20 s: 0.9 cores each in the first 10 s, 1.0
    # in the last; the broker's CPU is not the workers'.  180 results a second in the
    # first part and 150 in the last: the host slowed from 100 to 75 results per worker
    # CPU-second.
    sampler = Sampler(find=dict)
    names = {11: "edgeeye-w0", 12: "edgeeye-w1", 13: "mosquitto", 14: "edgeeye-main"}
    for pid, name in names.items():
        sampler.names[pid] = name
        used = 0.0
        for second in range(21):
            sampler.samples.setdefault(pid, []).append(_reading(float(second), used))
            used += (0.9 if second < 10 else 1.0) if name.startswith("edgeeye-w") else 0.5
    arrivals = [Arrival(k / 180, 0.0, k) for k in range(1800)]
    arrivals += [Arrival(10 + k / 150, 0.0, 1800 + k) for k in range(1500)]

    assert workers_pace(arrivals, sampler, 0.0, 10.0) == 100.0
    assert workers_pace(arrivals, sampler, 10.0, 20.0) == 75.0
    # No reading of the workers inside the window: no figure, rather than a wrong one.
    assert workers_pace(arrivals, sampler, 20.5, 30.0) is None

"""The bench's reading of another process's CPU: exact, and every thread's, ended or not."""

from __future__ import annotations

import subprocess
import sys
import time

from edgeeye.bench.processes import cpu_seconds

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

"""A hundred starts, each ended by SIGKILL of the main process: nothing is left behind.

The kernel kills the children (PR_SET_PDEATHSIG), multiprocessing's resource tracker
unlinks the ring, and the next start removes any segment a dead run still left.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time

import pytest

from tests.support.configs import small_model_config
from tests.support.processes import session_members, shm_segments

pytestmark = pytest.mark.slow

CYCLES = 100


def test_a_hundred_start_and_sigkill_cycles_leave_no_process_and_no_segment(
    tmp_path, broker, test_data, appliance_factory
):
    config = small_model_config(tmp_path, broker.port, test_data)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    rng = random.Random(7)
    sessions = []
    for cycle in range(CYCLES):
        appliance = appliance_factory(config, env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert notify.recv(4096).startswith(b"READY=1"), f"cycle {cycle}: never ready"
        time.sleep(rng.uniform(0, 0.5))  # somewhere in the middle of classifying
        os.kill(appliance.process.pid, signal.SIGKILL)
        appliance.process.wait(10)
        appliance.process.communicate()
        sessions.append(appliance.process.pid)
    notify.close()

    def left_segments() -> set[str]:  # ours only: other appliances may run beside the test
        return {s for s in shm_segments() if s.split("_")[1] in {str(p) for p in sessions}}

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        any(session_members(s) for s in sessions) or left_segments()
    ):
        time.sleep(0.1)
    assert [s for s in sessions if session_members(s)] == [], "processes outlived their run"
    assert left_segments() == set(), "shared memory left in /dev/shm"

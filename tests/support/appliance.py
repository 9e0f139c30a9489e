"""``edgeeye run`` as a real child process of the test, in a session of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from edgeeye.tools.launcher import launch_run
from tests.support.mqtt import Subscriber
from tests.support.processes import lingering


class Appliance:
    """``edgeeye run --config <config> <args>``, its output kept for the assertions."""

    def __init__(self, config: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.process = launch_run(
            config, *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.stdout = ""
        self.stderr = ""

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        """Its exit status; after ``timeout`` s its whole session is killed and it raises."""
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            self.stdout, self.stderr = self.process.communicate()
            raise
        return self.process.returncode

    def kill_group(self) -> None:
        """SIGKILL the main process, then whatever of its session is left after 5 s.

        Its children follow it (PDEATHSIG) and multiprocessing's resource tracker, last to
        go, unlinks the semaphores it tracked; a SIGKILL to the whole session at once kills
        the tracker with them and leaves those semaphores in /dev/shm.
        """
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if lingering(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


#: The ``appliance_factory`` fixture: starts one and stops it, if need be, after the test.
ApplianceFactory = Callable[..., Appliance]


def run_once(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the appliance to its end (an error at start-up, say) and return what it said."""
    appliance = Appliance(config, *args)
    appliance.wait(timeout)
    return subprocess.CompletedProcess(
        appliance.process.args, appliance.process.returncode, appliance.stdout, appliance.stderr
    )


def run_to_end(
    appliance_factory: ApplianceFactory, config: Path, subscriber: Subscriber, *args: str
) -> Appliance:
    """Run the appliance (on a read-once source, or with ``--duration``) until it exits by
    itself (exit 0) and the subscriber has its final 'offline'."""
    appliance = appliance_factory(config, *args)
    assert appliance.wait(60) == 0, appliance.stderr
    # Not a retained 'offline' an earlier run left: this run's own.
    subscriber.collect(lambda r: any(m.payload == b"offline" and not m.retain for m in r), 10)
    return appliance

"""What an appliance leaves behind: processes of its session, shared-memory segments."""

from __future__ import annotations

import time
from pathlib import Path


def session_members(session_id: int) -> set[int]:
    """Pids still alive in a session: the appliance runs in its own (start_new_session)."""
    members = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields[0] is the state; a zombie is already gone for our purposes
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.add(int(proc.name))
    return members


def lingering(session_id: int, timeout: float = 5.0) -> set[int]:
    """Processes of a session still alive after ``timeout`` s: multiprocessing's resource
    tracker takes a moment to notice its parent is gone; an orphan never leaves."""
    deadline = time.monotonic() + timeout
    while (members := session_members(session_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def shm_segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("edgeeye_*")}

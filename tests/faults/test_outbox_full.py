"""The outbox's filesystem full, then freed: results that cannot be written are counted as
dropped (not a dead publisher thread), and writing resumes by itself."""

from __future__ import annotations

import os
import subprocess

import pytest

from edgeeye.mqtt.outbox import Outbox


@pytest.fixture
def small_filesystem(tmp_path):
    """An 8 MiB tmpfs of our own (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("this machine does not let us mount a tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_filesystem_drops_and_counts_then_writing_resumes(small_filesystem, caplog):
    outbox = Outbox(small_filesystem / "outbox.sqlite3", max_bytes=64 * 2**20)
    filler = small_filesystem / "filler"
    payload = b"x" * 1000
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # every block the database has not
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    for _ in range(300):
        outbox.put("edgeeye/cam1/result", payload, 1)
    written = outbox.rows
    assert outbox.dropped > 0 and written + outbox.dropped == 300
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1  # once
    filler.unlink()
    for _ in range(50):
        outbox.put("edgeeye/cam1/result", payload, 1)
    assert outbox.rows == written + 50  # writing again, nothing else lost
    assert any("writing again" in r.getMessage() for r in caplog.records)
    rows = outbox.unsent(10_000)
    outbox.remove([row_id for row_id, *_ in rows])
    assert outbox.rows == 0
    outbox.close()

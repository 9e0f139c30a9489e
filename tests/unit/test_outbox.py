"""The outbox file: order, the size cap, reopening, and files it cannot use."""

from __future__ import annotations

import os

import pytest

from edgeeye.errors import ResourceError
from edgeeye.mqtt.outbox import Outbox


def test_rows_come_back_oldest_first_and_leave_only_when_removed(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=10_000)
    for n in range(5):
        outbox.put("edgeeye/cam1/result", f"r{n}".encode(), 1)
    first = outbox.unsent(3)
    assert [payload for _, _, payload, _ in first] == [b"r0", b"r1", b"r2"]
    assert [payload for _, _, payload, _ in outbox.unsent(10)] == [b"r3", b"r4"]
    outbox.remove([row_id for row_id, *_ in first])
    assert (outbox.rows, outbox.bytes) == (2, 4)
    outbox.close()
    outbox.close()  # safe twice


def test_past_the_cap_the_oldest_rows_are_dropped_and_counted(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=1000)
    for n in range(25):
        outbox.put("t", bytes([n]) * 100, 1)
    assert outbox.bytes <= 1000 and outbox.rows == 10 and outbox.dropped == 15
    assert [payload[0] for _, _, payload, _ in outbox.unsent(100)] == list(range(15, 25))


def test_a_reopened_outbox_resends_everything_not_removed(tmp_path):
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path, max_bytes=10_000)
    for n in range(3):
        outbox.put("t", f"r{n}".encode(), 1)
    outbox.unsent(3)  # sent, never acknowledged: the process dies here
    outbox.close()
    again = Outbox(path, max_bytes=10_000)
    assert again.rows == 3
    assert [payload for _, _, payload, _ in again.unsent(10)] == [b"r0", b"r1", b"r2"]


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path):
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"not sqlite" * 100)
    outbox = Outbox(path, max_bytes=10_000)
    assert outbox.rows == 0
    assert [p.name for p in tmp_path.glob("o.sqlite3.unreadable-*")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_folder_is_a_resource_error_naming_the_path(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ResourceError, match=r"^outbox .*locked/o.sqlite3: cannot open"):
        Outbox(locked / "o.sqlite3", max_bytes=10_000)


def test_a_path_under_a_file_is_a_resource_error_naming_the_path(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResourceError, match=r"^outbox .*file/o.sqlite3: cannot open"):
        Outbox(tmp_path / "file" / "o.sqlite3", max_bytes=10_000)


def test_the_outbox_is_private_whatever_the_umask(tmp_path):
    """Finding 11: created world-readable outside systemd (umask 022 gave 0644)."""
    loose = tmp_path / "loose.sqlite3"
    loose.touch(mode=0o644)
    loose.chmod(0o644)  # a file an older edgeeye left
    previous = os.umask(0)
    try:
        fresh = Outbox(tmp_path / "new" / "o.sqlite3", max_bytes=10_000)
        fresh.put("t", b"x", 1)
        kept = Outbox(loose, max_bytes=10_000)
        kept.put("t", b"x", 1)
    finally:
        os.umask(previous)
    files = [*sorted((tmp_path / "new").iterdir()), loose, *sorted(tmp_path.glob("loose*-*"))]
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in files}
    assert modes["o.sqlite3"] == modes["loose.sqlite3"] == "0o600"
    assert set(modes.values()) == {"0o600"}, modes  # the WAL and shared-memory files too
    assert {"o.sqlite3-wal", "o.sqlite3-shm"} <= set(modes)
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"
    fresh.close()
    kept.close()

"""The outbox: results kept on disk while the broker cannot take them, delivered in order later.

One SQLite file in WAL mode.  WAL with ``synchronous=NORMAL`` never leaves the file
corrupt, whatever kills the process (SIGKILL, a power cut), and costs no fsync per row;
after a power cut the last rows written may be missing, never half-written.  Only the
publisher thread uses an ``Outbox`` (``stop()`` uses it after that thread has ended).

Rows leave the outbox only when the broker has acknowledged them, so a crash between
sending and the acknowledgement sends them again after the restart: a duplicate, as QoS 1
allows, never a loss.  The file is bounded: past ``max_bytes`` the oldest rows go first,
and are counted in ``dropped``; so is a message that finds the filesystem full, which is
logged once until a message fits again.  The file and its sidecars are private to the appliance's
user (mode 0600), whatever the umask.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path

from edgeeye.config.files import private_file
from edgeeye.errors import ResourceError

log = logging.getLogger(__name__)

_SIDECARS = ("-wal", "-shm")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    size INTEGER NOT NULL
)
"""


class Outbox:
    """A bounded, ordered, crash-safe queue of MQTT messages in one SQLite file."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        #: Rows removed because the file was full (oldest first), since this process started.
        self.dropped = 0
        self._sent_up_to = 0  # rows with an id up to this were handed to the broker already
        self._full = False  # the filesystem refused the last write
        self._unremoved: list[int] = []  # acknowledged rows a full filesystem kept us deleting
        self._db = self._open()
        self._closed = False
        self.rows, self.bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox"
        ).fetchone()
        if self.rows:
            log.info("outbox %s: %d results from earlier wait for the broker", path, self.rows)

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not self.path.exists() or isinstance(exc, sqlite3.OperationalError):
                raise ResourceError(f"outbox {self.path}: cannot open: {exc}") from exc
            # Not a database (a truncated copy, a stray file): keep it for inspection and
            # start a new one rather than refusing to run.
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            self.path.rename(aside)
            log.warning("outbox %s: unreadable (%s); moved aside to %s", self.path, exc, aside)
            return self._connect()
        except OSError as exc:
            raise ResourceError(f"outbox {self.path}: cannot open: {exc.strerror}") from exc

    def _connect(self) -> sqlite3.Connection:
        # SQLite gives its -wal and -shm files the database file's mode, so this covers all.
        for path in (self.path, *(self.path.with_name(self.path.name + s) for s in _SIDECARS)):
            if path == self.path or path.exists():
                private_file(path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        return db

    def put(self, topic: str, payload: bytes, qos: int) -> None:
        """Append one message; drop the oldest ones if the file would exceed its cap."""
        try:
            self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, size) VALUES (?, ?, ?, ?)",
                (topic, payload, qos, len(payload)),
            )
        except sqlite3.OperationalError as exc:  # "database or disk is full", an I/O error
            self.dropped += 1
            if not self._full:
                self._full = True
                log.warning(
                    "outbox %s: cannot write (%s); dropping results until it can", self.path, exc
                )
            return
        if self._full:
            self._full = False
            log.warning("outbox %s: writing again", self.path)
        self.rows += 1
        self.bytes += len(payload)
        while self.bytes > self.max_bytes and self.rows > 1:
            if not self._drop_oldest(max(1, self.rows // 100)):
                break

    def _drop_oldest(self, count: int) -> bool:
        try:
            sizes = self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)"
                " RETURNING size",
                (count,),
            ).fetchall()
        except sqlite3.OperationalError:
            return False  # the filesystem is full: tried again with the next row
        self._forget(sizes)
        self.dropped += len(sizes)
        return True

    def unsent(self, limit: int) -> list[tuple[int, str, bytes, int]]:
        """Up to ``limit`` rows not yet handed to the broker by this process, oldest first."""
        rows = self._db.execute(
            "SELECT id, topic, payload, qos FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (self._sent_up_to, limit),
        ).fetchall()
        if rows:
            self._sent_up_to = rows[-1][0]
        return rows

    def remove(self, row_ids: list[int]) -> None:
        """Forget rows the broker has acknowledged (ids already gone are ignored).

        A full filesystem can refuse even a delete (WAL needs room): those ids are tried
        again with the next call, and after a restart the rows are sent again (a duplicate,
        as QoS 1 allows)."""
        row_ids, self._unremoved = [*self._unremoved, *row_ids], []
        for start in range(0, len(row_ids), 500):
            chunk = row_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                sizes = self._db.execute(
                    f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING size", chunk
                ).fetchall()
            except sqlite3.OperationalError:
                self._unremoved.extend(row_ids[start:])
                return
            self._forget(sizes)

    def _forget(self, sizes: list[tuple[int]]) -> None:
        self.rows -= len(sizes)
        self.bytes -= sum(size for (size,) in sizes)

    def close(self) -> None:
        """Close the file; safe twice."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

"""paho-mqtt's socket, driven by the publisher thread itself.

paho runs its network side either in a thread of its own (``loop_start``) or from an
application's event loop (``loop_read``, ``loop_write``, ``loop_misc``, following the
socket through ``on_socket_open``, ``on_socket_close`` and ``on_socket_register_write``).
With its own thread every result crossed threads: our ``publish()`` woke paho's thread
through a socket pair, which woke to write it, and woke again for the acknowledgement.  The
publisher thread is woken by every result anyway, so it now drives the socket itself: it
waits on the workers' pipes and the socket in one selector and writes what a pass queued
in one go.  After a write the acknowledgement is not waited for: it is read on a pass the
next result wakes anyway (many at a time, every ``ACK_BATCH_S``, while results flow), or
by one wake-up ``ACK_HOLD_S`` after the last write, rather than each by a wake-up of its
own.  ``edgeeye bench`` prints what each way costs per message.

What stays paho's: the CONNECT with its last will, keepalive pings and their time-out
(``loop_misc``), QoS 1 and the re-sending of unacknowledged messages on a reconnect
(``reconnect``), and every callback.  What is ours: when to try again, by paho's own
backoff rule (``Backoff``), and a connector thread for each try, since a TCP connect or TLS
handshake may block for paho's ``connect_timeout`` while results must keep moving to the
outbox.

Other threads (the snapshot encoder, the supervisor on a reload) may publish at any time:
paho queues their packets and calls ``on_socket_register_write``, which wakes the owner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

#: How often keepalive is looked after (``loop_misc``): paho's own thread does it at most
#: once a second when idle; ``mqtt.keepalive`` is at least 5 s.
MISC_INTERVAL_S = 1.0
#: A periodic duty of the publisher thread (this keepalive look, the stats) is done by any
#: pass that comes within this long of its time: while results flow, it rides on a pass
#: one makes instead of waking the thread a few milliseconds off it (at a slow camera's
#: pace a wake-up costs about what a result's whole publish does).
DUTY_SLACK_S = 0.25
#: For this long after a write, the socket's readability is not waited on: a pass that a
#: result makes meanwhile reads what has arrived.  Long enough for the next result of a
#: 2 frames/s camera to come first, so that each result costs one wake-up, not a second
#: for its acknowledgement.  A command, or a connection the broker closed, waits at most
#: this long while no result comes; far below ``mqtt.keepalive`` (5 s at least), which
#: the silence checks use.
ACK_HOLD_S = 0.5
#: Within a hold, a pass reads the socket if this long has gone by since the last read:
#: while results flow, one read takes the acknowledgements of many.
ACK_BATCH_S = 0.05

Events = Sequence[tuple[selectors.SelectorKey, int]]


class Backoff:
    """paho's reconnect rule (``reconnect_delay_set``): wait ``min_delay`` s after a loss,
    double the wait after every failed try up to ``max_delay``, and start again once the
    broker has accepted us."""

    def __init__(self, min_delay: float = 1.0, max_delay: float = 120.0) -> None:
        self.restart(min_delay, max_delay)

    def restart(self, min_delay: float, max_delay: float) -> None:
        self.min_delay, self.max_delay = min_delay, max_delay
        self._delay: float | None = None

    def next_delay(self) -> float:
        if self._delay is None:
            self._delay = self.min_delay
        else:
            self._delay = min(self._delay * 2, self.max_delay)
        return self._delay

    def accepted(self) -> None:
        self._delay = None


class NetworkLoop:
    """One paho client's network side, served by whichever thread owns it.

    The owner (``own()``) is the publisher thread while it runs, then the thread that
    stops the publisher.  It waits on ``selector`` (shared with the result pipes), then
    calls ``serve`` with what the wait returned and ``flush`` once it has published.
    """

    def __init__(
        self,
        client: mqtt.Client,
        selector: selectors.BaseSelector,
        backoff: Backoff,
        connect_failed: Callable[[mqtt.Client, object], None],
    ) -> None:
        self._client = client
        self._selector = selector
        self.backoff = backoff
        self._connect_failed = connect_failed
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        selector.register(self._wake_read, selectors.EVENT_READ, self)
        #: Guards the end: ``close()`` against a connection try that outlives it, and
        #: ``wake()`` against a pipe already closed (whose number may be reused by then).
        self._end_lock = threading.Lock()
        self._pipe_open = True
        self._try_over = True  # the connector's try, if any, has done all it will do
        self._abandoned = False  # close() gave up waiting: the try closes what it opened
        self._followed: object | None = None  # paho's socket, as last seen
        self._mask = 0  # what the selector waits for on it (0: not registered)
        self._hold_until = 0.0  # reads ride on the passes results make until then
        self._next_read = 0.0  # while holding, the first pass from then on reads
        self._owner: int | None = None
        self._connector: threading.Thread | None = None
        #: When to try next; None: as soon as the backoff says (set after a loss or a failed
        #: try, so that a delay restarted by on_disconnect applies to it).
        self._next_attempt: float | None = 0.0  # the first connection at once
        self._next_misc = 0.0
        self._closed = False
        client.on_socket_close = self._socket_closed
        client.on_socket_register_write = self._write_wanted

    # -- who drives it -------------------------------------------------------------------

    def own(self) -> None:
        """From now on the calling thread serves the socket; others only wake it."""
        self._owner = threading.get_ident()

    def wake(self) -> None:
        """Make the owner's wait return (a pipe was added, another thread published)."""
        with self._end_lock:
            self._wake_unlocked()

    def _wake_unlocked(self) -> None:
        if self._pipe_open:
            with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                os.write(self._wake_write, b"w")

    def _write_wanted(self, _client: mqtt.Client, _userdata: object, _sock: object) -> None:
        # paho calls this when its first queued packet makes the socket want writing; on
        # the owner's thread the next flush writes it.
        if threading.get_ident() != self._owner:
            self.wake()

    # -- serving ---------------------------------------------------------------------------

    def next_due(self, now: float) -> float:
        """Seconds until the network needs a look with nothing arriving."""
        if self._connector is not None:
            return MISC_INTERVAL_S  # the connector wakes the owner when its try is over
        if self._client.socket() is None:
            if self._closed:
                return MISC_INTERVAL_S
            due = now if self._next_attempt is None else self._next_attempt
        else:
            due = self._next_misc
            if self._holding(now):
                due = min(due, self._hold_until)
        return max(0.0, due - now)

    def serve(self, events: Events, now: float) -> None:
        """Read what arrived, keep the connection alive, and try to connect when due."""
        readable = False
        for key, _mask in events:
            if key.data is not self:
                continue
            if key.fileobj == self._wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 4096)
            elif key.fileobj is self._followed:
                readable = True
        if self._connecting():
            return
        if self._client.socket() is None:
            self._connect_if_due(now)
            return
        if readable or (not self._mask & selectors.EVENT_READ and now >= self._next_read):
            self._read()
            # While results flow, a read every ACK_BATCH_S takes the acknowledgements of
            # many results in a row, at the price (on a slow-waking host, most of it) of
            # one read's cold start rather than one per result.
            self._next_read = now + ACK_BATCH_S if self._holding(now) else 0.0
        if now >= self._next_misc - DUTY_SLACK_S:
            self._next_misc = now + MISC_INTERVAL_S
            self._client.loop_misc()

    def flush(self) -> None:
        """Write what is queued, this thread's messages and other threads' alike."""
        if self._connecting() or self._client.socket() is None:
            return
        if self._client.want_write():
            self._client.loop_write()
            self._hold_until = time.monotonic() + ACK_HOLD_S
        self._watch()

    def run_for(self, seconds: float) -> None:
        """Serve the socket for ``seconds`` (for the stopping thread, once it owns it)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.flush()
            now = time.monotonic()
            events = self._selector.select(min(left, max(0.005, self.next_due(now))))
            self.serve(events, time.monotonic())
        self.flush()

    def run_until(self, done: Callable[[], bool], deadline: float) -> None:
        """Serve the socket until ``done()``, the connection is lost, or ``deadline``."""
        while self._client.is_connected() and not done() and time.monotonic() < deadline:
            self.run_for(0.02)

    def _holding(self, now: float) -> bool:
        return now < self._hold_until

    def _read(self) -> None:
        sock = self._client.socket()
        self._client.loop_read()
        # TLS may hold decrypted bytes the selector cannot see; paho's own loop reads them.
        while sock is not None and sock is self._client.socket() and _pending(sock):
            self._client.loop_read()

    # -- connecting --------------------------------------------------------------------------

    def _connecting(self) -> bool:
        """Whether a connector thread is at work; once it is done, take over its socket."""
        if self._connector is None:
            return False
        # Not ``is_alive()``: the thread wakes us before it has ended, and a wake-up read
        # while it still looked alive would leave us waiting a full MISC_INTERVAL_S.
        with self._end_lock:
            if not self._try_over:
                return True
        self._connector = None
        if self._client.socket() is None:
            self._next_attempt = None
        else:
            self._next_misc = 0.0
            self._watch()  # the CONNECT is queued
        return False

    def _connect_if_due(self, now: float) -> None:
        if self._next_attempt is None:
            self._next_attempt = now + self.backoff.next_delay()
        if self._closed or now < self._next_attempt:
            return
        # Under the lock: a close() from another thread (a publisher thread that did not
        # stop in time) either sees this try and leaves it its socket, or prevents it.
        with self._end_lock:
            if not self._pipe_open:
                return
            self._try_over = False
            self._connector = threading.Thread(
                target=self._connect, name="edgeeye.mqtt-connect", daemon=True
            )
            self._connector.start()

    def _connect(self) -> None:
        """The connector thread: one try, as paho's own loop makes it.  Should ``close()``
        have stopped waiting for it, the socket it opened is its own to close."""
        try:
            self._client.reconnect()
        except OSError:
            if not self._closed:  # a try outliving the publisher has nobody left to tell
                self._connect_failed(self._client, None)  # inside the except, as paho does
        finally:
            with self._end_lock:
                self._try_over = True
                if self._abandoned:
                    self._close_socket()
                else:
                    self._wake_unlocked()

    def _watch(self) -> None:
        """Wait on paho's socket for what it needs: room to write while packets are left
        over (a full socket buffer), and data to read unless reads ride on results."""
        sock = self._client.socket()
        if sock is not self._followed:
            self._forget()
            self._followed = sock
        if sock is None:
            return
        mask = 0 if self._holding(time.monotonic()) else selectors.EVENT_READ
        if self._client.want_write():
            mask |= selectors.EVENT_WRITE
        if mask == self._mask:
            return
        if self._mask == 0:
            self._selector.register(sock, mask, self)
        elif mask == 0:
            self._selector.unregister(sock)
        else:
            self._selector.modify(sock, mask, self)
        self._mask = mask

    def _forget(self) -> None:
        if self._followed is not None and self._mask:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(self._followed)  # type: ignore[arg-type]
        self._followed, self._mask = None, 0

    def _socket_closed(self, _client: mqtt.Client, _userdata: object, sock: object) -> None:
        # paho closes the socket right after this call: forget it first.
        if sock is self._followed:
            self._forget()
            self._next_attempt = None

    # -- the end -------------------------------------------------------------------------------

    def stop_trying(self) -> None:
        """Make no more connection tries (before ``disconnect()``: a session we end is not
        a loss to recover from)."""
        self._closed = True

    def close(self, timeout: float) -> None:
        """No more tries; wait up to ``timeout`` s for a try under way, then let go: a try
        still hanging (a TLS handshake to a silent peer) closes its own socket when it ends,
        and can wake nobody any more."""
        self._closed = True
        connector = self._connector
        if connector is not None:
            connector.join(timeout)
        self._forget()
        with self._end_lock:
            if self._try_over:
                self._close_socket()  # connected by a try that ended as we stopped
            else:
                self._abandoned = True
                log.debug("a connection try is still under way; it closes its own socket")
            self._pipe_open = False
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._wake_read)
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _close_socket(self) -> None:
        sock = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _pending(sock: object) -> bool:
    pending = getattr(sock, "pending", None)
    return pending is not None and pending() > 0

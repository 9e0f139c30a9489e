"""A TCP relay between the appliance and the broker that can fail the way links fail.

- ``blackhole``: bytes from either side are read and thrown away and nothing is closed: a
  half-open connection, what MQTT's keepalive exists for.  New connections are accepted
  and treated alike.  When it ends, the connections it swallowed are closed.
- ``delay_s``: every chunk is forwarded that much later (a slow link); the kernel's own
  ``tc netem`` is not needed, nor is a network namespace, and traffic stays on loopback.

One thread, one selector.  ``closed_by_client`` records when the appliance closed a
connection, which is when it noticed a dead link.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Pipe:
    client: socket.socket
    upstream: socket.socket | None
    swallowed: bool  # opened or caught in a blackhole: never forwarded again
    answered: bool = False  # the broker has sent something back (a CONNACK at least)
    queued: dict[socket.socket, deque[tuple[float, bytes]]] = field(default_factory=dict)


class LinkProxy:
    """Listens on 127.0.0.1:``port``; forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listener.setblocking(False)
        self.blackhole = False
        self.delay_s = 0.0
        self.closed_by_client: list[float] = []
        self._pipes: dict[socket.socket, _Pipe] = {}
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)

    def start(self) -> LinkProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            for pipe in list({id(p): p for p in self._pipes.values()}.values()):
                self._close(pipe)
            self._selector.close()
        self._listener.close()

    def connected(self) -> bool:
        """Whether a connection is open that the broker has answered on."""
        with self._lock:
            return any(p.answered and not p.swallowed for p in self._pipes.values())

    def set_blackhole(self, on: bool) -> None:
        with self._lock:
            self.blackhole = on
            if on:
                for pipe in self._pipes.values():
                    pipe.swallowed = True
            else:
                for pipe in list({id(p): p for p in self._pipes.values()}.values()):
                    if pipe.swallowed:
                        self._close(pipe)

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = self._next_due()
            for key, _ in self._selector.select(timeout):
                with self._lock:
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._read(key.fileobj)  # type: ignore[arg-type]
            with self._lock:
                self._send_due(time.monotonic())

    def _next_due(self) -> float:
        with self._lock:
            dues = [
                queue[0][0]
                for pipe in self._pipes.values()
                for queue in pipe.queued.values()
                if queue
            ]
        return max(0.0, min(dues) - time.monotonic()) if dues else 0.2

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        upstream = None
        if not self.blackhole:
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 2)
            except OSError:
                client.close()  # the broker is down: refused, as it would be
                return
            upstream.setblocking(False)
        client.setblocking(False)
        pipe = _Pipe(client, upstream, swallowed=self.blackhole)
        for sock in (client, upstream):
            if sock is not None:
                self._pipes[sock] = pipe
                pipe.queued[sock] = deque()
                self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        pipe = self._pipes.get(sock)
        if pipe is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if sock is pipe.client:
                self.closed_by_client.append(time.monotonic())
                self._close(pipe)
            elif not pipe.swallowed:
                self._close(pipe)
            else:  # the broker gave up on a swallowed link: the client must not hear it
                self._drop(sock)
                pipe.upstream = None
            return
        if pipe.swallowed or pipe.upstream is None:
            return  # lost on the way
        pipe.answered = pipe.answered or sock is pipe.upstream
        target = pipe.upstream if sock is pipe.client else pipe.client
        pipe.queued[target].append((time.monotonic() + self.delay_s, data))

    def _send_due(self, now: float) -> None:
        for pipe in list({id(p): p for p in self._pipes.values()}.values()):
            for target, queue in pipe.queued.items():
                while queue and queue[0][0] <= now and not pipe.swallowed:
                    _, data = queue.popleft()
                    try:
                        target.setblocking(True)
                        target.sendall(data)
                        target.setblocking(False)
                    except OSError:
                        self._close(pipe)
                        return

    def _drop(self, sock: socket.socket) -> None:
        self._pipes.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()

    def _close(self, pipe: _Pipe) -> None:
        for sock in (pipe.client, pipe.upstream):
            if sock is not None:
                self._drop(sock)

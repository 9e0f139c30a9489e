"""Liveness: is the pipeline making progress, and telling systemd (sd_notify) so.

Progress means frames were classified recently, not merely that the main loop turns: a
wedged camera or frozen workers stop the watchdog pings, and systemd (``WatchdogSec``)
restarts the service.  So does a way out that is broken: a publisher whose thread (which
also serves the MQTT connection) has died is never healthy, whatever the frames do.  A capture
waiting out its retry delay counts as progress, since the supervisor is doing what it
should about it.  Without ``$NOTIFY_SOCKET`` (not under
systemd, or no ``NotifyAccess``) every notification is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """The sd_notify protocol: newline-separated ``KEY=value`` datagrams to $NOTIFY_SOCKET."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket; its wire name starts with a NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec, pid = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
        ours = not pid or pid == str(os.getpid())
        #: How often to ping: half the watchdog period, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval_s = int(usec) / 2e6 if usec and usec.isdigit() and ours else None
        self._failed = False

    def send(self, *fields: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            if not self._failed:  # once: a missing socket would otherwise log every 0.5 s
                self._failed = True
                log.warning("sd_notify to %s failed: %s", self._address.lstrip("\0"), exc)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Liveness:
    """Watches ``frames_classified`` and pings the watchdog only while it moves."""

    def __init__(self, notifier: Notifier, progress_timeout_s: float) -> None:
        self.notifier = notifier
        self.progress_timeout_s = progress_timeout_s
        self.healthy = True
        self._last_count = -1
        self._last_progress = time.monotonic()
        self._last_ping = 0.0
        self._last_status = ""

    def ready(self, status: str) -> None:
        self._last_progress = time.monotonic()
        self._last_status = status
        self.notifier.send("READY=1", f"STATUS={status}")

    def update(
        self,
        frames_classified: int,
        waiting_for_source: bool,
        status: str,
        broken: str | None = None,
    ) -> bool:
        """Record the count; ping the watchdog if progress is recent and nothing is
        ``broken`` (why results can no longer leave, e.g. a dead publisher thread);
        True when healthy."""
        now = time.monotonic()
        if frames_classified != self._last_count:
            self._last_count = frames_classified
            self._last_progress = now
        was_healthy = self.healthy
        progressing = waiting_for_source or now - self._last_progress <= self.progress_timeout_s
        self.healthy = progressing and broken is None
        if not self.healthy:
            status = (
                broken or f"stalled: no frame classified since {self.progress_timeout_s:.0f}+ s"
            )
            if was_healthy:
                log.error("%s; no longer telling the watchdog we are alive", status)
        interval = self.notifier.watchdog_interval_s
        if self.healthy and interval is not None and now - self._last_ping >= interval:
            self._last_ping = now
            self.notifier.send("WATCHDOG=1")
        if status != self._last_status:
            self._last_status = status
            self.notifier.send(f"STATUS={status}")
        return self.healthy

    def stopping(self, status: str) -> None:
        self.notifier.send("STOPPING=1", f"STATUS={status}")

"""A private mosquitto on a free loopback port, for the demo and the tests.

Not part of the appliance's run path: on a Pi the broker is the user's own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edgeeye.errors import ResourceError
from edgeeye.tools.launcher import terminate

_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _let_mosquitto_write(folder: Path) -> None:
    """Started as root, mosquitto drops to its own user; its persistence file must still
    be writable, or sessions silently vanish at a restart."""
    if os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    os.chown(folder, account.pw_uid, account.pw_gid)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalBroker:
    """``start()``/``stop()``/``restart()`` a mosquitto bound to 127.0.0.1:``port``.

    Restarting keeps the port, so clients reconnect to the same address.  With
    ``persistent`` the broker keeps sessions and queued QoS 1 messages across restarts.
    """

    def __init__(
        self,
        port: int | None = None,
        persistent: bool = False,
        listener_options: tuple[str, ...] = (),
        prelude: tuple[str, ...] = (),
    ) -> None:
        """``listener_options`` are mosquitto.conf lines for the listener (TLS files,
        ``password_file``, ``allow_anonymous false``, further listeners); files they name
        belong in ``dir``.  ``prelude`` lines come before any listener
        (``per_listener_settings true``)."""
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._listener_options = listener_options
        self._prelude = prelude
        self._dir = Path(tempfile.mkdtemp(prefix="edgeeye-broker-"))
        self.dir = self._dir
        _let_mosquitto_write(self._dir)
        self._process: subprocess.Popen[bytes] | None = None
        self._persistent = persistent
        self.log_path = self._dir / "mosquitto.log"

    def _write_config(self) -> Path:
        options = list(self._listener_options)
        if not any(line.startswith("allow_anonymous") for line in options):
            options.append("allow_anonymous true")
        lines = [
            *self._prelude,
            f"listener {self.port} 127.0.0.1",
            *options,
            f"persistence {'true' if self._persistent else 'false'}",
            f"persistence_location {self._dir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
        ]
        path = self._dir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Start mosquitto and wait until it takes connections; already running, nothing
        (``with LocalBroker().start()`` must not leave a second mosquitto behind)."""
        if self._process is not None and self._process.poll() is None:
            return self
        binary = find_mosquitto()
        if binary is None:
            raise ResourceError("mosquitto: not installed (apt-get install mosquitto)")
        config = self._write_config()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ResourceError(
                    f"mosquitto on port {self.port} exited: {self.log_path.read_text()[-300:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ResourceError(f"mosquitto on port {self.port} did not start in {timeout} s")

    @property
    def pid(self) -> int | None:
        """The running mosquitto's process id (the bench reports its CPU)."""
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        if self._process is None:
            return
        terminate(self._process)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

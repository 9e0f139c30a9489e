"""The appliance's sd_notify conversation, as systemd would hear it, healthy and stalled.

The test plays systemd: it binds the notification socket, gives the appliance
``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` and reads every datagram it sends.
"""

from __future__ import annotations

import signal
import socket
import time

import pytest

from tests.support.configs import small_model_config
from tests.support.fakes import hanging_workers

pytestmark = pytest.mark.slow


@pytest.fixture
def systemd_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(0.2)
    yield path, sock
    sock.close()


def _listen(sock, seconds: float) -> list[tuple[float, str]]:
    heard = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            heard.append((time.monotonic(), sock.recv(4096).decode()))
        except TimeoutError:
            continue
    return heard


def _start(tmp_path, broker, test_data, appliance_factory, path, supervisor="", env=None):
    config = small_model_config(tmp_path, broker.port, test_data, supervisor=supervisor)
    systemd = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
    return appliance_factory(config, env={**systemd, **(env or {})})


def test_ready_then_watchdog_pings_then_stopping(
    tmp_path, broker, test_data, appliance_factory, systemd_socket
):
    path, sock = systemd_socket
    appliance = _start(tmp_path, broker, test_data, appliance_factory, path)
    heard = _listen(sock, 12)
    messages = [text for _, text in heard]
    assert messages[0] == "READY=1\nSTATUS=classifying with 2 workers", appliance.stderr
    ready_at = heard[0][0]
    pings = [t for t, text in heard if text == "WATCHDOG=1" and t > ready_at + 3]
    assert len(pings) >= 8, messages  # every 0.5 s, for as long as frames are classified
    appliance.signal(signal.SIGTERM)
    stopping = _listen(sock, 3)
    assert stopping and stopping[0][1] == "STOPPING=1\nSTATUS=stopping: signal"
    assert appliance.wait(30) == 0


def test_frozen_workers_starve_the_watchdog(
    tmp_path, broker, test_data, appliance_factory, systemd_socket
):
    path, sock = systemd_socket
    appliance = _start(
        tmp_path,
        broker,
        test_data,
        appliance_factory,
        path,
        supervisor="invoke_deadline_s: 3600, progress_timeout_s: 2",
        env=hanging_workers("all"),  # every worker hangs in its first invoke
    )
    heard = _listen(sock, 8)
    messages = [text for _, text in heard]
    assert messages[0].startswith("READY=1"), appliance.stderr
    stalled = [t for t, text in heard if text.startswith("STATUS=stalled")]
    assert stalled, messages
    assert not [t for t, text in heard if text == "WATCHDOG=1" and t > stalled[0]]
    appliance.signal(signal.SIGTERM)
    assert appliance.wait(30) == 0
    assert "no longer telling the watchdog we are alive" in appliance.stderr

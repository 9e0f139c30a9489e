"""sd_notify over a real unix datagram socket, and when the watchdog is fed."""

from __future__ import annotations

import os
import socket
import time

import pytest

from edgeeye.supervision.liveness import Liveness, Notifier


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(0.05)
    yield path, sock
    sock.close()


def _datagrams(sock) -> list[str]:
    found = []
    while True:
        try:
            found.append(sock.recv(4096).decode())
        except TimeoutError:
            return found


def test_ready_status_and_watchdog_pings_while_frames_are_classified(notify_socket):
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
    assert notifier.watchdog_interval_s == 0.05
    liveness = Liveness(notifier, progress_timeout_s=0.3)
    liveness.ready("classifying with 2 workers")
    for count in range(4):
        liveness.update(count, waiting_for_source=False, status="classifying with 2 workers")
        time.sleep(0.06)
    sent = _datagrams(sock)
    assert sent[0] == "READY=1\nSTATUS=classifying with 2 workers"
    assert sent[1:] == ["WATCHDOG=1"] * 4
    assert liveness.healthy


def test_no_progress_starves_the_watchdog_and_says_so(notify_socket):
    path, sock = notify_socket
    liveness = Liveness(Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "20000"}), 0.2)
    liveness.ready("classifying")
    liveness.update(5, False, "classifying")
    time.sleep(0.25)
    assert not liveness.update(5, False, "classifying")
    _datagrams(sock)
    time.sleep(0.05)
    liveness.update(5, False, "classifying")
    assert _datagrams(sock) == []  # no ping, and the stalled status was already sent
    assert liveness.update(6, False, "classifying")  # progress again: fed again
    assert _datagrams(sock) == ["WATCHDOG=1", "STATUS=classifying"]


def test_a_capture_waiting_to_retry_is_not_a_stall(notify_socket):
    path, _sock = notify_socket
    liveness = Liveness(Notifier({"NOTIFY_SOCKET": str(path)}), progress_timeout_s=0.01)
    liveness.ready("x")
    time.sleep(0.02)
    assert liveness.update(0, waiting_for_source=True, status="waiting")


def test_abstract_socket_names_and_foreign_watchdog_pids():
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"edgeeye-test-{os.getpid()}"
    listener.bind("\0" + name)
    listener.settimeout(1)
    notifier = Notifier(
        {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert notifier.watchdog_interval_s is None  # the watchdog is someone else's
    notifier.send("READY=1")
    assert listener.recv(100) == b"READY=1"
    listener.close()


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier({})
    notifier.send("READY=1")  # a no-op, not an error
    assert notifier.watchdog_interval_s is None


def test_a_broken_way_out_is_never_healthy_and_starves_the_watchdog(notify_socket):
    """Finding 1: with paho's network thread dead, frames went on and so did the pings."""
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
    liveness = Liveness(notifier, progress_timeout_s=30)
    liveness.ready("classifying")
    _datagrams(sock)
    for count in range(3):
        broken = "the MQTT network thread has died"
        assert liveness.update(count, False, "classifying", broken) is False
        time.sleep(0.06)
    sent = _datagrams(sock)
    assert "WATCHDOG=1" not in sent
    assert sent == ["STATUS=the MQTT network thread has died"]
    assert liveness.update(3, False, "classifying") is True  # mended (not in practice)

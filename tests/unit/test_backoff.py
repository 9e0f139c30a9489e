"""The network loop's reconnect delays follow paho's own rule (``reconnect_delay_set``)."""

from __future__ import annotations

from edgeeye.mqtt.network import Backoff


def test_the_delay_starts_at_the_minimum_doubles_and_stops_at_the_maximum():
    backoff = Backoff(min_delay=0.5, max_delay=3.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_an_accepted_connection_and_a_restart_begin_again_at_the_minimum():
    backoff = Backoff(min_delay=1.0, max_delay=10.0)
    backoff.next_delay(), backoff.next_delay()
    backoff.accepted()
    assert backoff.next_delay() == 1.0
    backoff.restart(0.7, 2.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.7, 1.4, 2.0]

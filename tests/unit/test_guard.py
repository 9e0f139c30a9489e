"""paho callbacks through ``CallbackGuard``: whatever they raise stays in them, said once."""

from __future__ import annotations

import logging

from edgeeye.mqtt.guard import CallbackGuard


def test_a_raising_callback_returns_and_is_logged_once_per_kind(caplog):
    calls: list[int] = []

    def on_message(depth: int) -> None:
        calls.append(depth)
        if depth > 0:
            raise RecursionError("maximum recursion depth exceeded")
        raise KeyError("label")

    guard = CallbackGuard()
    guarded = guard(on_message)
    with caplog.at_level(logging.ERROR, logger="edgeeye.mqtt.guard"):
        for depth in range(100):
            guarded(depth)
    assert len(calls) == 100
    assert guard.failures == {"on_message: KeyError": 1, "on_message: RecursionError": 99}
    assert [r.getMessage() for r in caplog.records] == [
        "MQTT callback on_message: KeyError failed; the connection goes on",
        "MQTT callback on_message: RecursionError failed; the connection goes on",
    ]

"""Remote commands: what is accepted, and the one line a refused one gets."""

from __future__ import annotations

import pytest

from edgeeye.config.sections import PublishConfig
from edgeeye.publish.policy import LiveSettings
from edgeeye.publish.remote_control import CommandGate, ControlError, apply_command

BASE = LiveSettings(min_score=0.1, publish=PublishConfig(), snapshot_enabled=False)
ALL = ("min_score", "publish", "snapshot")


def test_accepted_commands_change_only_their_setting():
    assert apply_command(BASE, "min_score", b"0.4", allowed=ALL).min_score == 0.4
    assert apply_command(BASE, "snapshot", b"on", allowed=ALL).snapshot_enabled is True
    assert apply_command(BASE, "snapshot", b"false", allowed=ALL).snapshot_enabled is False
    changed = apply_command(BASE, "publish", b'{"mode": "on_change", "hold_s": 2.5}', allowed=ALL)
    assert (changed.publish.mode, changed.publish.hold_s) == ("on_change", 2.5)
    assert changed.publish.max_rate == BASE.publish.max_rate and changed.min_score == 0.1
    assert (
        apply_command(BASE, "publish/mode", b"on_change", allowed=ALL).publish.mode == "on_change"
    )
    assert apply_command(BASE, "publish/include", b'["cat"]', allowed=ALL).publish.include == (
        "cat",
    )


@pytest.mark.parametrize(
    ("leaf", "payload", "message"),
    [
        ("min_score", b"1.5", "set/min_score: '1.5' is not allowed: must be from 0 to 1"),
        ("min_score", b"high", "set/min_score: 'high' is not allowed: must be from 0 to 1"),
        ("snapshot", b"maybe", "set/snapshot: 'maybe' is not allowed: must be on or off"),
        (
            "publish/hold_s",
            b"-1",
            "set/publish: hold_s: -1 is not allowed: must be greater than or equal to 0",
        ),
        ("publish/mode", b"sometimes", "set/publish: mode: 'sometimes' is not allowed"),
        ("publish", b'{"colour": 1}', "set/publish: colour: unknown key (allowed: mode,"),
        ("publish", b"[1]", "set/publish: must be a JSON object of publish settings"),
        ("model/path", b"/tmp/x", "set/model/path: not a setting that can be changed remotely"),
        ("mqtt/host", b"evil", "set/mqtt/host: not a setting that can be changed remotely"),
        ("min_score", b"\xff", "set/min_score: payload is not UTF-8 text"),
        ("min_score", b"0" * 5000, "set/min_score: payload over 4096 bytes"),
        # 1,000 nested lists used to raise RecursionError in paho's network thread.
        ("publish/include", b"[" * 1000 + b"]" * 1000, "set/publish/include: nested deeper"),
        ("publish", b'{"include": [["cat"]]}', "set/publish: nested deeper than 2 levels"),
        ("publish/hold_s", b"NaN", "set/publish: hold_s: 'NaN' is not allowed"),
        ("min_score", b"nan", "set/min_score: 'nan' is not allowed: must be from 0 to 1"),
        # Finding 2: a heartbeat every nanosecond made the publisher a busy loop.
        (
            "publish/heartbeat_s",
            b"1e-9",
            "set/publish: heartbeat_s: 1e-09 is not allowed: must be 0 (off) or at least 1 s",
        ),
        ("min_score", b"\x1b[2J", "set/min_score: '\\x1b[2J' is not allowed"),
    ],
)
def test_refused_commands_say_which_setting_and_why(leaf, payload, message):
    with pytest.raises(ControlError) as refused:
        apply_command(BASE, leaf, payload, allowed=ALL)
    assert str(refused.value).startswith(message)
    assert str(refused.value).isprintable()  # one line, no control character from the payload


def test_brackets_inside_strings_do_not_count_as_nesting():
    changed = apply_command(BASE, "publish/include", b'["[[[[cat]]]]"]', allowed=ALL)
    assert changed.publish.include == ("[[[[cat]]]]",)


@pytest.mark.parametrize(
    ("allowed", "leaf", "payload"),
    [
        (("min_score", "publish"), "snapshot", b"on"),  # the default: pictures need an opt-in
        (("publish",), "min_score", b"0.5"),
        (("snapshot",), "publish/mode", b"on_change"),
    ],
)
def test_only_the_settings_the_config_allows_can_be_changed(allowed, leaf, payload):
    with pytest.raises(ControlError) as refused:
        apply_command(BASE, leaf, payload, allowed=allowed)
    setting = leaf.split("/")[0]
    assert str(refused.value) == (
        f"set/{leaf}: not allowed by the config (add {setting} to remote_control.allow)"
    )


def test_the_default_config_does_not_let_snapshots_be_switched_on_remotely():
    from edgeeye.config.sections import RemoteControlConfig

    assert "snapshot" not in RemoteControlConfig().allow
    assert set(RemoteControlConfig().allow) == {"min_score", "publish"}


def test_the_command_gate_admits_a_burst_then_the_rate():
    gate = CommandGate(rate=2.0, burst=20)
    admitted = sum(gate.admit() for _ in range(20_000))
    assert 20 <= admitted <= 22  # the burst, plus what the rate refills while looping
    assert gate.dropped == 20_000 - admitted
    assert gate.take_dropped() == gate.dropped and gate.take_dropped() == 0

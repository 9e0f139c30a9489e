"""Remote commands: what is accepted, and the one line a refused one gets."""

from __future__ import annotations

import pytest

from edgeeye.config.sections import PublishConfig
from edgeeye.publish.policy import LiveSettings
from edgeeye.publish.remote_control import ControlError, apply_command

BASE = LiveSettings(min_score=0.1, publish=PublishConfig(), snapshot_enabled=False)


def test_accepted_commands_change_only_their_setting():
    assert apply_command(BASE, "min_score", b"0.4").min_score == 0.4
    assert apply_command(BASE, "snapshot", b"on").snapshot_enabled is True
    assert apply_command(BASE, "snapshot", b"false").snapshot_enabled is False
    changed = apply_command(BASE, "publish", b'{"mode": "on_change", "hold_s": 2.5}')
    assert (changed.publish.mode, changed.publish.hold_s) == ("on_change", 2.5)
    assert changed.publish.max_rate == BASE.publish.max_rate and changed.min_score == 0.1
    assert apply_command(BASE, "publish/mode", b"on_change").publish.mode == "on_change"
    assert apply_command(BASE, "publish/include", b'["cat"]').publish.include == ("cat",)


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
    ],
)
def test_refused_commands_say_which_setting_and_why(leaf, payload, message):
    with pytest.raises(ControlError) as refused:
        apply_command(BASE, leaf, payload)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)

"""Generated commands thrown at the remote-control handler: each is applied or refused with
one line; nothing else escapes, whatever the topic or payload (issue 15, finding 1)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeeye.config.sections import PublishConfig
from edgeeye.publish.policy import LiveSettings
from edgeeye.publish.remote_control import ControlError, apply_command

BASE = LiveSettings(min_score=0.1, publish=PublishConfig(), snapshot_enabled=False)
ALL = ("min_score", "publish", "snapshot")
KEYS = [*PublishConfig.model_fields, "colour", ""]
LEAVES = st.sampled_from(
    ["min_score", "snapshot", "publish", *(f"publish/{key}" for key in KEYS), "model/path"]
) | st.text(max_size=40)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def _json_payload(value: object) -> bytes:
    return json.dumps(value).encode()


def _check(leaf: str, payload: bytes) -> None:
    try:
        changed = apply_command(BASE, leaf, payload, allowed=ALL)
    except ControlError as refused:
        line = str(refused)
        assert "\n" not in line and len(line) <= 400, line
        assert line.startswith("set/"), line
    else:
        assert isinstance(changed, LiveSettings)
        assert 0.0 <= changed.min_score <= 1.0
        PublishConfig.model_validate(changed.publish.model_dump())  # still a valid section


@settings(max_examples=400, deadline=None)
@given(leaf=LEAVES, value=json_values)
def test_generated_json_commands_are_applied_or_refused_in_one_line(leaf, value):
    _check(leaf, _json_payload(value))


@settings(max_examples=300, deadline=None)
@given(leaf=LEAVES, payload=st.binary(max_size=5000))
def test_generated_bytes_are_applied_or_refused_in_one_line(leaf, payload):
    _check(leaf, payload)


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=5000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_without_recursion(depth, opener):
    closer = "]" if opener == "[" else "}"
    payload = (opener * depth + "1" + closer * depth).encode()
    _check("publish/include", payload)
    _check("publish", payload)

"""Generated messages thrown at ``edgeeye watch``: each is a row or counted as not
understood, nothing escapes the parser or paho's callbacks, and no control or format
character from a payload or a topic reaches the terminal (issue 15, part A)."""

from __future__ import annotations

import io
import json
import math
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import MQTTMessage

from edgeeye.config.sections import MqttConfig
from edgeeye.publish.stats import Latency, PipelineCounts, PublisherCounts, Stats
from edgeeye.tools.watch import DeviceView, NotUnderstoodTally, Watcher, render_table
from edgeeye.tools.watch_messages import (
    LEAVES,
    UNFORESEEN,
    NotUnderstood,
    Reading,
    parse_message,
    printable,
)

UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: What an attacker reaches for: ESC and CSI sequences, C1 CSI, BEL, CR, NUL, a bidi
#: override, a zero-width joiner, a lone surrogate, the line separator.
NASTY = ["\x1b[2J", "\x1b]0;owned\x07", "\x9b31m", "\r", "\x00", "\u202e", "\u200d", "\ud800",
         "\u2028", "\x7f"]  # fmt: skip
hostile_text = st.lists(st.sampled_from(NASTY) | st.text(max_size=8), max_size=6).map("".join)
KEYS = ["labels", "label", "score", "index", "device", "fps", "latency_ms", "p99", "restarts"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)
# Results as edgeeye writes them, but any field may be missing or of any type.
label_entries = st.fixed_dictionaries(
    {},
    optional={
        "index": scalars,
        "label": hostile_text | scalars | json_values,
        "score": st.floats(0, 1) | scalars | json_values,
    },
)
results = st.fixed_dictionaries(
    {
        "labels": st.lists(label_entries, max_size=3)
        | st.lists(json_values, max_size=2)
        | json_values
    },
    optional={"device": json_values, "sequence": json_values},
)
topics = st.builds(
    "{}/{}/{}".format,
    st.sampled_from(["edgeeye", "edgeeye/site"]),
    hostile_text | st.sampled_from(["cam1", "attic"]),
    st.sampled_from(LEAVES) | st.text(max_size=10),
) | st.text(max_size=30)

REAL_STATS = json.loads(
    Stats.build(
        "cam1",
        "4242-beef",
        60.0,
        PipelineCounts(frames_dropped=2, restarts={"capture": 1}),
        PublisherCounts(9.5, 0, 0, 0, 0, 0, 0, 0),
        Latency(p50=1.0, p95=2.0, p99=3.0, max=4.0),
    ).payload()
)


def _parsed(topic: str, payload: bytes) -> Reading | NotUnderstood:
    reading = parse_message(topic, payload)
    assert isinstance(reading, Reading | NotUnderstood)
    if isinstance(reading, NotUnderstood):
        assert not reading.reason.startswith(UNFORESEEN), reading.reason  # checks cover it
    elif reading.kind == "result":
        assert isinstance(reading.label, str)
        assert reading.score is None or math.isfinite(reading.score)
    return reading


def _assert_terminal_safe(text: str) -> None:
    bad = [ch for ch in text if ch != "\n" and unicodedata.category(ch) in UNPRINTABLE]
    assert not bad, (bad, text)
    assert all(len(line) <= 400 for line in text.splitlines())


def _table(messages: list[tuple[str, bytes]]) -> str:
    """The table watch draws after ``messages``, as ``Watcher`` keeps it."""
    devices: dict[str, DeviceView] = {}
    tally = NotUnderstoodTally()
    for topic, payload in messages:
        reading = _parsed(topic, payload)
        if isinstance(reading, Reading):
            devices.setdefault(reading.device, DeviceView()).apply(reading)
        else:
            tally.add(reading)
    return render_table(devices, not_understood=tally)


@settings(max_examples=300, deadline=None)
@given(topic=topics, payload=st.binary(max_size=3000))
def test_random_bytes_are_a_row_or_not_understood(topic, payload):
    _assert_terminal_safe(_table([(topic, payload)]))


@settings(max_examples=300, deadline=None)
@given(device=hostile_text, leaf=st.sampled_from(LEAVES), value=json_values)
def test_generated_json_is_a_row_or_not_understood_and_prints_clean(device, leaf, value):
    payload = json.dumps(value).encode()  # NaN and Infinity as Python writes them
    _assert_terminal_safe(_table([(f"edgeeye/{device}/{leaf}", payload)]))


@settings(max_examples=300, deadline=None)
@given(device=hostile_text, result=results)
def test_real_looking_results_with_wrong_types_never_raise(device, result):
    reading = _parsed(f"edgeeye/{device}/result", json.dumps(result).encode())
    top = result["labels"][0] if isinstance(result["labels"], list) and result["labels"] else None
    understood = isinstance(top, dict) and isinstance(top.get("label"), str)
    understood = understood and type(top.get("score")) in (int, float)
    if isinstance(reading, Reading):
        assert understood or result["labels"] == []
        if understood:
            assert reading.label == top["label"]
    _assert_terminal_safe(_table([(f"edgeeye/{device}/result", json.dumps(result).encode())]))


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(sorted(REAL_STATS)), value=json_values)
def test_stats_with_a_field_of_any_type_never_raise(field, value):
    payload = json.dumps({**REAL_STATS, field: value}).encode()
    _assert_terminal_safe(_table([("edgeeye/cam1/stats", payload)]))


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 70_000), bracket=st.sampled_from(["[", '{"a":']))
def test_any_nesting_depth_is_a_row_or_not_understood(depth, bracket):
    close = "]" if bracket == "[" else "}"
    payload = (bracket * depth + "1" + close * depth).encode()
    reading = _parsed("edgeeye/cam1/settings", payload)
    assert isinstance(reading, Reading) == (depth <= 32 and len(payload) <= 64 * 1024)


@settings(max_examples=500, deadline=None)
@given(text=hostile_text | st.text(), limit=st.integers(0, 60))
def test_printable_escapes_and_caps_whatever_it_is_given(text, limit):
    shown = printable(text, limit)
    assert len(shown) <= max(limit, 3)
    _assert_terminal_safe(shown)
    if len(text) <= limit and not any(unicodedata.category(c) in UNPRINTABLE for c in text):
        assert shown == text


def test_an_escape_in_a_label_is_shown_visibly_not_obeyed():
    payload = json.dumps({"labels": [{"label": "\x1b[2Jevil\u202e", "score": 0.5}]}).encode()
    row = _table([("edgeeye/cam\x1b[31m/result", payload)]).splitlines()[1]
    assert row.split()[:3] == ["cam\\x1b[31m", "?", "\\x1b[2Jevil\\u202e"]


def _message(topic: bytes, payload: bytes) -> MQTTMessage:
    message = MQTTMessage(topic=topic)
    message.payload = payload
    return message


@settings(max_examples=150, deadline=None)
@given(topic=topics, payload=st.binary(max_size=2000) | json_values.map(json.dumps).map(str.encode))
def test_the_json_mode_prints_one_strict_ascii_json_line_per_message(topic, payload):
    out = io.StringIO()
    watcher = Watcher(MqttConfig(), as_json=True, out=out)
    watcher._client.on_message(
        watcher._client, None, _message(topic.encode("utf-8", "replace"), payload)
    )
    assert watcher.callback_failures == 0
    (line,) = out.getvalue().splitlines()
    assert line.isascii()

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a --json line")

    printed = json.loads(line, parse_constant=refuse)
    assert set(printed) >= {"device", "kind", "topic", "retained", "payload"}
    assert ("not_understood" in printed) == (watcher.not_understood.count == 1)


def test_a_callback_that_fails_is_counted_and_the_next_message_still_lands():
    class BrokenOut(io.StringIO):
        def write(self, _text: str) -> int:
            raise BrokenPipeError("stdout went away")

    watcher = Watcher(MqttConfig(), as_json=True, out=BrokenOut())
    result = json.dumps({"labels": [{"label": "macaw", "score": 0.9}]}).encode()
    for _ in range(3):  # paho's thread would have died at the first
        watcher._client.on_message(watcher._client, None, _message(b"edgeeye/cam1/result", result))
    assert watcher.callback_failures == 3
    assert watcher.devices["cam1"].label == "macaw"
    not_utf8 = _message(b"edgeeye/\xff/result", result)
    watcher._client.on_message(watcher._client, None, not_utf8)
    assert watcher.not_understood.last == NotUnderstood("", "", "topic is not UTF-8")

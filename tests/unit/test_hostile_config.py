"""Hostile config files: each is refused with one short line naming the file, or loads.

Alias bombs, deep nesting, huge values, values Python cannot convert, tiny timing knobs,
NaN: none may expand, recurse, print a 72 MB message or escape as a traceback.  The
property tests throw generated YAML, text and bytes at ``load_config``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import edgeeye.config.app as app_module
from edgeeye.config.app import AppConfig, load_config
from edgeeye.config.messages import describe
from edgeeye.config.sections import (
    HomeAssistantConfig,
    ImagesSourceConfig,
    ModelConfig,
    MqttConfig,
    OutboxConfig,
    Picamera2SourceConfig,
    PublishConfig,
    RemoteControlConfig,
    SnapshotConfig,
    SupervisorConfig,
    SyntheticSourceConfig,
)
from edgeeye.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
FINITE = "must be a finite number"


def _refusal(tmp_path: Path, content: str | bytes) -> tuple[Path, str]:
    path = tmp_path / "edgeeye.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    return path, str(refused.value)


def _alias_bomb() -> str:
    """The classic "billion laughs": 9 levels of 9 aliases, 10**9 strings once expanded."""
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, 10):
        aliases = ",".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_its_first_alias_without_expanding(tmp_path):
    bomb = _alias_bomb()
    assert len(bomb) < 700
    path, message = _refusal(tmp_path, bomb)
    assert message == f"{path}: line 2: YAML aliases (*name) are not allowed in the config"


def test_an_alias_anywhere_is_refused_with_its_line(tmp_path):
    text = "mqtt: &broker\n  host: a\nhomeassistant:\n  discovery: true\noutbox: *broker\n"
    path, message = _refusal(tmp_path, text)
    assert message == f"{path}: line 5: YAML aliases (*name) are not allowed in the config"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", 1),
        ("a: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", 1),
        ("a: " + "[" * 60_000 + "\n", 1),  # nearly the size limit, never closed
        ("".join(" " * i + "a:\n" for i in range(300)) + " " * 300 + "1\n", 33),
    ],
    ids=["flow-sequences", "flow-mappings", "unclosed-flow", "block-mappings"],
)
def test_nesting_deeper_than_32_levels_is_refused_while_composing(tmp_path, text, line):
    path, message = _refusal(tmp_path, text)
    assert message == f"{path}: line {line}: nested deeper than 32 levels"


def test_32_levels_of_nesting_are_still_parsed(tmp_path):
    path, message = _refusal(tmp_path, "a: " + "[" * 31 + "]" * 31 + "\n")
    assert message.startswith(f"{path}: line 1: a: unknown key (allowed: device_id,")


def test_a_3000_level_block_file_is_refused_by_its_size(tmp_path):
    text = "".join(" " * i + "a:\n" for i in range(3000))
    path, message = _refusal(tmp_path, text)
    assert message == f"{path}: cannot read config: larger than 64 KiB"


def test_a_huge_value_is_shown_as_a_bounded_excerpt(tmp_path):
    path, message = _refusal(tmp_path, "mqtt:\n  port: 1883\ndevice_id: " + "a" * 5000 + "\n")
    shown = "'" + "a" * 57 + "…' (5000 characters)"
    assert message == (
        f"{path}: line 3: device_id: {shown} is not allowed: must be 1-64 letters, digits,"
        " '_', '-', '.' starting with a letter or digit (no '/', '+', '#')"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An unknown key of 1000 characters (YAML allows no longer implicit key).
        ("mqtt: {" + "k" * 1000 + ": 1}\n", "line 1: mqtt.'" + "k" * 27 + "…' (1000 characters)"),
        ('"a\\nb": 1\n', "line 1: 'a\\nb': unknown key (allowed: device_id,"),
        ("1: 2\n", "line 1: 1: keys must be text"),
        ("source: {type: " + "t" * 500 + "}\n", "line 1: source.type: '" + "t" * 57 + "…'"),
        ("mqtt:\n  port: 0x" + "f" * 5000 + "\n", "line 2: mqtt.port: an integer of about 6021"),
        ("model: {name: " + "n" * 300 + "}\n", "line 1: model.name: '" + "n" * 57 + "…' (300"),
        ("model: {path: " + "p" * 5000 + ", labels: x}\n", "(5000 characters) is not allowed:"),
        ('model: {path: "a\\0b", labels: x}\n', "line 1: model.path: 'a\\x00b' is not allowed:"),
        ("model: {path: ~nosuchuser0/m, labels: x}\n", "Could not determine home directory"),
        ("a: !<" + "x" * 3000 + "> 1\n", "line 1: invalid YAML: could not determine a const"),
        # Values PyYAML constructs with int() or datetime, which raise ValueError.
        ("device_id: 2001-02-30\n", "line 1: invalid YAML: cannot read this value: day is"),
        ("mqtt:\n  port: !!int x\n", "line 2: invalid YAML: cannot read this value: invalid"),
        ("mqtt:\n  port: " + "1" * 5000 + "\n", "line 2: invalid YAML: cannot read this value"),
        ("device_id: a\x01\n", "line 1: invalid YAML: character U+0001 is not allowed in YAML"),
        (b"mqtt:\n  host: \xff\n", "line 2: cannot read config: not UTF-8 text"),
        ("a: 1\n---\nb: 2\n", "line 2: invalid YAML: expected a single document in the"),
        ("workers: '\u00b2'\n", "line 1: workers: '²' is not allowed: must be a whole number"),
        ("workers: '" + "9" * 5000 + "'\n", "(5000 characters) is not allowed: must be a whole"),
    ],
)
def test_hostile_values_and_keys_get_one_short_line(tmp_path, text, expected):
    path, message = _refusal(tmp_path, text)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message and len(message) - len(str(path)) <= 300


@pytest.mark.parametrize("failure", [RecursionError, MemoryError])
def test_recursion_and_memory_errors_still_become_one_line(tmp_path, monkeypatch, failure):
    def exhausted(path: Path, label: str) -> object:
        raise failure()

    monkeypatch.setattr(app_module, "read_yaml", exhausted)
    path, message = _refusal(tmp_path, "device_id: a\n")
    assert message == f"{path}: cannot load: too large or too deeply nested"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "publish:\n  mode: on_change\n  heartbeat_s: 1.0e-9\n",
            "line 3: publish.heartbeat_s: 1e-09 is not allowed: must be 0 (off) or at least 1 s",
        ),
        (  # YAML 1.1 reads 1e-9 (no dot) as text; pydantic still takes it for a number
            "publish:\n  heartbeat_s: 1e-9\n",
            "line 2: publish.heartbeat_s: '1e-9' is not allowed: must be 0 (off) or at least 1 s",
        ),
        (
            "publish: {hold_s: 0.01}\n",
            "line 1: publish.hold_s: 0.01 is not allowed: must be 0 (no hold) or at least 0.05 s",
        ),
        (
            "publish: {max_rate: 0.001}\n",
            "line 1: publish.max_rate: 0.001 is not allowed: must be 0 (no limit) or at least 0.01",
        ),
        (
            "publish: {max_rate: 1001}\n",
            "line 1: publish.max_rate: 1001 is not allowed: must be less than or equal to 1000",
        ),
        (
            "mqtt: {stats_interval: 0.5}\n",
            "line 1: mqtt.stats_interval: 0.5 is not allowed: must be greater than or equal to 1",
        ),
        (
            "source: {type: synthetic, fps: 0.001}\n",
            "line 1: source.fps: 0.001 is not allowed: must be 0 (unpaced) or at least 0.01",
        ),
        (
            "source: {type: picamera2, fps: 0.001}\n",
            "line 1: source.fps: 0.001 is not allowed: must be 0 (camera default) or at least 0.01",
        ),
        (
            "supervisor:\n  source_backoff_s: 5\n  source_backoff_max_s: 2\n",
            "line 1: supervisor: source_backoff_max_s (2) must be at least source_backoff_s (5)",
        ),
        (
            "supervisor: {invoke_deadline_s: 0.1}\n",
            "line 1: supervisor.invoke_deadline_s: 0.1 is not allowed: must be greater than or",
        ),
        (
            'publish:\n  include: [cat, "dog\\x01"]\n',
            "line 2: publish.include.1: 'dog\\x01' is not allowed: must not contain control"
            " characters (U+0001)",
        ),
        (
            "publish:\n  exclude: ['']\n",
            "line 2: publish.exclude.0: '' is not allowed: String should have at least 1",
        ),
        (
            "publish:\n  include: [" + "x" * 201 + "]\n",
            "line 2: publish.include.0: '" + "x" * 57 + "…' (201 characters) is not allowed",
        ),
        (
            "publish:\n  include: [" + ", ".join(["a"] * 1001) + "]\n",
            "line 2: publish.include: ['a', 'a', ",
        ),
        (
            "remote_control: {allow: [snapshot, mqtt]}\n",
            "line 1: remote_control.allow.1: 'mqtt' is not allowed: must be 'min_score',"
            " 'publish' or 'snapshot'",
        ),
    ],
)
def test_timing_floors_and_publish_lists_are_enforced(tmp_path, text, expected):
    path, message = _refusal(tmp_path, text)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ("publish: {hold_s: %s}", "publish.hold_s"),
        ("publish: {heartbeat_s: %s}", "publish.heartbeat_s"),
        ("publish: {score_threshold: %s}", "publish.score_threshold"),
        ("model: {min_score: %s}", "model.min_score"),
        ("mqtt: {stats_interval: %s}", "mqtt.stats_interval"),
        ("source: {type: synthetic, fps: %s}", "source.fps"),
        ("outbox: {max_mb: %s}", "outbox.max_mb"),
        ("supervisor: {progress_timeout_s: %s}", "supervisor.progress_timeout_s"),
    ],
)
@pytest.mark.parametrize(("value", "shown"), [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf")])
def test_nan_and_infinity_are_refused_everywhere(tmp_path, template, key, value, shown):
    path, message = _refusal(tmp_path, template % value + "\n")
    assert message == f"{path}: line 1: {key}: {shown} is not allowed: {FINITE}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("publish: {heartbeat_s: 0}", {"heartbeat_s": 0.0}),
        ("publish: {heartbeat_s: 1}", {"heartbeat_s": 1.0}),
        ("publish: {hold_s: 0, max_rate: 0}", {"hold_s": 0.0, "max_rate": 0.0}),
        ("publish: {hold_s: 0.05, max_rate: 0.01}", {"hold_s": 0.05, "max_rate": 0.01}),
        ("publish: {max_rate: 1000, heartbeat_s: 86400}", {"max_rate": 1000, "heartbeat_s": 86400}),
        ("publish: {include: [" + "x" * 200 + "]}", {"include": ("x" * 200,)}),
    ],
)
def test_values_on_the_floors_are_accepted(tmp_path, text, expected):
    path = tmp_path / "edgeeye.yaml"
    path.write_text(text + "\n")
    publish = load_config(path, environ={}).publish
    assert {key: getattr(publish, key) for key in expected} == expected


def test_other_knobs_on_their_floors_are_accepted(tmp_path):
    path = tmp_path / "edgeeye.yaml"
    path.write_text(
        "source: {type: synthetic, fps: 0.01}\nmqtt: {stats_interval: 1}\n"
        "supervisor: {source_backoff_s: 0.1, source_backoff_max_s: 0.1, invoke_deadline_s: 0.5}\n"
        "remote_control: {allow: [snapshot]}\n"
    )
    config = load_config(path, environ={})
    assert (config.source.fps, config.mqtt.stats_interval) == (0.01, 1.0)
    assert (config.supervisor.source_backoff_max_s, config.supervisor.invoke_deadline_s) == (
        0.1,
        0.5,
    )
    assert config.remote_control.allow == ("snapshot",)
    assert RemoteControlConfig().allow == ("min_score", "publish")


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"heartbeat_s": 1e-9}, "heartbeat_s: 1e-09 is not allowed: must be 0 (off) or at least"),
        ({"hold_s": float("inf")}, f"hold_s: inf is not allowed: {FINITE}"),
        ({"max_rate": "NaN"}, f"max_rate: 'NaN' is not allowed: {FINITE}"),
        ({"include": ["a\u2028b"]}, "include.0: 'a\\u2028b' is not allowed: must not contain"),
    ],
)
def test_remote_publish_settings_meet_the_same_floors(update, expected):
    """Remote control validates through PublishConfig, so its messages come from here."""
    with pytest.raises(ValidationError) as refused:
        PublishConfig.model_validate({**PublishConfig().model_dump(), **update})
    message = describe(refused.value, "set/publish", None, {}, PublishConfig)
    assert message.startswith(f"set/publish: {expected}")


# -- property tests -------------------------------------------------------------------

SECTION_MODELS = (
    SyntheticSourceConfig,
    ImagesSourceConfig,
    Picamera2SourceConfig,
    ModelConfig,
    MqttConfig,
    OutboxConfig,
    SupervisorConfig,
    HomeAssistantConfig,
    PublishConfig,
    SnapshotConfig,
    RemoteControlConfig,
)
TOP_KEYS = sorted(AppConfig.model_fields)
INNER_KEYS = sorted({key for model in SECTION_MODELS for key in model.model_fields})
WORDS = ["auto", "synthetic", "images", "picamera2", "on_change", "every_frame", "5", "INFO"]

keys = st.sampled_from(INNER_KEYS) | st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80)
    | st.sampled_from(WORDS)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)
documents = st.dictionaries(
    st.sampled_from(TOP_KEYS) | st.text(max_size=12),
    st.dictionaries(keys, values, max_size=6) | values,
    max_size=6,
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _loads_or_one_line(folder: Path, content: bytes) -> None:
    """The property: an AppConfig, or a ConfigError of one line starting with the file."""
    path = folder / "fuzzed.yaml"
    path.write_bytes(content)
    try:
        config = load_config(path, environ={})
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message and "\r" not in message, message
        assert len(message) - len(str(path)) <= 300, message
    else:
        assert isinstance(config, AppConfig)


@FUZZ
@given(document=documents)
def test_generated_mappings_load_or_fail_in_one_line(tmp_path_factory, document):
    text = yaml.safe_dump(document, allow_unicode=True)
    _loads_or_one_line(tmp_path_factory.mktemp("mappings"), text.encode())


@FUZZ
@given(text=st.text(max_size=400))
def test_generated_text_loads_or_fails_in_one_line(tmp_path_factory, text):
    _loads_or_one_line(tmp_path_factory.mktemp("text"), text.encode())


@FUZZ
@given(content=st.binary(max_size=400))
def test_generated_bytes_load_or_fail_in_one_line(tmp_path_factory, content):
    _loads_or_one_line(tmp_path_factory.mktemp("bytes"), content)


DOCUMENTED = (REPO / "configs" / "edgeeye.yaml").read_text()


@FUZZ
@given(
    at=st.integers(0, len(DOCUMENTED)),
    cut=st.integers(0, 40),
    inserted=st.text(max_size=30) | st.sampled_from(["*a", "&a ", "[[[[", "{", ": ", "\t", "-"]),
)
def test_edits_of_the_documented_config_load_or_fail_in_one_line(
    tmp_path_factory, at, cut, inserted
):
    text = DOCUMENTED[:at] + inserted + DOCUMENTED[at + cut :]
    _loads_or_one_line(tmp_path_factory.mktemp("edits"), text.encode())

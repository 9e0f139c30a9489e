"""Fixtures shared by every tier: the real test data, a real broker, a real subscriber."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edgeeye.tools.local_broker import LocalBroker, find_mosquitto

REPO = Path(__file__).resolve().parent.parent
#: Top-1 labels of the photographs in ../shared/images with mobilenet_v2_1.0_224_quant,
#: as listed in ../shared/README.md.
EXPECTED_TOP1 = {
    "cat.bmp": "Egyptian cat",
    "cat_720p.jpg": "Egyptian cat",
    "cat_1080p.jpg": "Egyptian cat",
    "grace_hopper.bmp": "military uniform",
    "parrot.jpg": "macaw",
}
TEST_DATA = Path(os.environ.get("EDGEEYE_TEST_DATA", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``../shared`` (or $EDGEEYE_TEST_DATA): real models, labels and photographs."""
    if not (TEST_DATA / "models" / "mobilenet_v2_1.0_224_quant.tflite").is_file():
        pytest.skip(f"test data not found at {TEST_DATA} (set EDGEEYE_TEST_DATA)")
    return TEST_DATA


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch) -> Path:
    """Each test's appliances keep their outbox in the test's own folder, not the user's."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    return state / "edgeeye"


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    """A fresh mosquitto on a free loopback port, for this test alone."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with LocalBroker() as running:
        yield running


class Subscriber:
    """A real MQTT client that records every message on ``topic`` as it arrives."""

    def __init__(
        self, broker: LocalBroker, topic: str = "#", protocol: int = mqtt.MQTTv311, qos: int = 1
    ) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.received: list[mqtt.MQTTMessage] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=protocol
        )
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=qos)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not subscribe")

    def collect(self, until, timeout: float) -> list[mqtt.MQTTMessage]:
        """Gather messages until ``until(received)`` is true or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not until(self.received) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self.received.append(self.messages.get(timeout=0.1))
        return self.received

    def drain(self, seconds: float) -> list[mqtt.MQTTMessage]:
        return self.collect(lambda _r: False, seconds)

    def on(self, suffix: str) -> list[mqtt.MQTTMessage]:
        return [m for m in self.received if m.topic.endswith(suffix)]

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        """Send a message from this client (a command, say), waiting until it is out."""
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def json_on(self, suffix: str) -> list[dict]:
        return [json.loads(m.payload) for m in self.received if m.topic.endswith(suffix)]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
def subscriber_factory() -> Iterator:
    made: list[Subscriber] = []

    def make(broker: LocalBroker, topic: str = "#", **options) -> Subscriber:
        made.append(Subscriber(broker, topic, **options))
        return made[-1]

    yield make
    for sub in made:
        sub.close()


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def device_config(
    folder: Path,
    port: int,
    test_data: Path,
    *,
    model: str,
    source: str,
    workers: int = 2,
    mqtt: str = "",
    extra: str = "",
) -> Path:
    """``folder/edgeeye.yaml`` for device cam1 on ``model`` (a file in the test data);
    ``mqtt`` is flow-mapping entries added to that section, ``extra`` more top-level YAML."""
    mqtt_entries = f"host: 127.0.0.1, port: {port}" + (f", {mqtt}" if mqtt else "")
    return write_config(
        folder / "edgeeye.yaml",
        f"""
device_id: cam1
source: {source}
model:
  path: {test_data}/models/{model}.tflite
  labels: {test_data}/models/imagenet_labels.txt
workers: {workers}
mqtt: {{{mqtt_entries}}}
{extra}
""",
    )


def small_model_config(
    folder: Path,
    port: int,
    test_data: Path,
    *,
    source: str = "{type: synthetic, fps: 30}",
    workers: int = 2,
    mqtt: str = "",
    supervisor: str = "",
) -> Path:
    """Device cam1 on the small model (1 ms a frame), so fault tests spend their time on
    the fault.  ``mqtt`` and ``supervisor`` are flow-mapping entries ("stats_interval: 1,
    qos: 1") added to those sections."""
    return device_config(
        folder,
        port,
        test_data,
        model="mobilenet_v1_0.25_128_quant",
        source=source,
        workers=workers,
        mqtt=mqtt,
        extra=f"supervisor: {{{supervisor}}}",
    )


class Appliance:
    """``edgeeye run`` as a real child process of the test."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edgeeye", "run", "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self.stderr = ""

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        try:
            _, self.stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            _, self.stderr = self.process.communicate()
            raise
        return self.process.returncode

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def appliance_factory() -> Iterator:
    started: list[Appliance] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None) -> Appliance:
        started.append(Appliance(config, *args, env=env))
        return started[-1]

    yield start
    for appliance in started:
        if appliance.process.poll() is None:
            appliance.kill_group()
            appliance.process.communicate()


def session_members(session_id: int) -> set[int]:
    """Pids still alive in a session: the appliance runs in its own (start_new_session)."""
    members = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields[0] is the state; a zombie is already gone for our purposes
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.add(int(proc.name))
    return members


def lingering(session_id: int, timeout: float = 5.0) -> set[int]:
    """Processes of a session still alive after ``timeout`` s: multiprocessing's resource
    tracker takes a moment to notice its parent is gone; an orphan never leaves."""
    deadline = time.monotonic() + timeout
    while (members := session_members(session_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def shm_segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("edgeeye_*")}


def assert_matches_schema(leaf: str, payload: bytes) -> None:
    """A message on ``<prefix>/<device>/<leaf>`` validates against ``schemas/<leaf>.schema.json``.

    status is text, snapshot a JPEG (checked as latin-1 text, as its schema says), the rest
    JSON."""
    from jsonschema import Draft202012Validator, FormatChecker

    schema = json.loads((REPO / "schemas" / f"{leaf}.schema.json").read_text())
    if leaf == "status":
        document = payload.decode()
    elif leaf == "snapshot":
        document = payload.decode("latin-1")
    else:
        document = json.loads(payload)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors = [error.message[:200] for error in validator.iter_errors(document)]
    assert not errors, (leaf, payload[:300], errors)


def photo_sequence(folder: Path, test_data: Path, names: list[str]) -> Path:
    """``folder`` holding the photographs ``names`` in that order (numbered symlinks into
    the test data), for an images source to read as a scripted scene."""
    folder.mkdir(parents=True, exist_ok=True)
    for position, name in enumerate(names):
        (folder / f"{position:03d}_{name}").symlink_to(test_data / "images" / name)
    return folder


def photo_config(
    folder: Path,
    port: int,
    test_data: Path,
    source: str,
    extra: str = "",
    *,
    workers: int = 2,
    mqtt: str = "",
) -> Path:
    """Device cam1 classifying with mobilenet_v2_1.0_224_quant (the model ``EXPECTED_TOP1``
    is for), stats every second, discovery off; ``extra`` is more top-level YAML, ``mqtt``
    flow-mapping entries added to that section."""
    return device_config(
        folder,
        port,
        test_data,
        model="mobilenet_v2_1.0_224_quant",
        source=source,
        workers=workers,
        mqtt="stats_interval: 1" + (f", {mqtt}" if mqtt else ""),
        extra=f"homeassistant: {{discovery: false}}\n{extra}",
    )


def run_to_end(appliance_factory, config: Path, subscriber: Subscriber, *args: str):
    """Run the appliance (on a read-once source, or with ``--duration``) until it exits by
    itself (exit 0) and the subscriber has its final 'offline'."""
    appliance = appliance_factory(config, *args)
    assert appliance.wait(60) == 0, appliance.stderr
    # Not a retained 'offline' an earlier run left: this run's own.
    subscriber.collect(lambda r: any(m.payload == b"offline" and not m.retain for m in r), 10)
    return appliance

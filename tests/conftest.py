"""Fixtures shared by every tier: the real test data, a real broker, real subscribers and
appliances.  The helpers they use, and that tests import, are in tests/support."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeeye.pipeline.ring import FrameRing
from edgeeye.tools.local_broker import LocalBroker, find_mosquitto
from tests.support.appliance import Appliance
from tests.support.mqtt import Subscriber
from tests.support.paths import TEST_DATA
from tests.support.ring import FRAME_BYTES


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``../shared`` (or $EDGEEYE_TEST_DATA): real models, labels and photographs."""
    if not (TEST_DATA / "models" / "mobilenet_v2_1.0_224_quant.tflite").is_file():
        pytest.skip(f"test data not found at {TEST_DATA} (set EDGEEYE_TEST_DATA)")
    return TEST_DATA


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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


@pytest.fixture
def subscriber_factory() -> Iterator:
    """``make(broker, topic="#", **options)``: a Subscriber, closed after the test."""
    made: list[Subscriber] = []

    def make(broker: LocalBroker, topic: str = "#", **options: int) -> Subscriber:
        made.append(Subscriber(broker, topic, **options))
        return made[-1]

    yield make
    for sub in made:
        sub.close()


@pytest.fixture
def appliance_factory() -> Iterator:
    """``start(config, *args, env=None)``: an Appliance, its session killed after the test
    if it is still running."""
    started: list[Appliance] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None) -> Appliance:
        started.append(Appliance(config, *args, env=env))
        return started[-1]

    yield start
    for appliance in started:
        if appliance.process.poll() is None:
            appliance.kill_group()
            appliance.process.communicate()


@pytest.fixture
def ring() -> Iterator[FrameRing]:
    """A real three-slot frame ring of 4x4 RGB frames (``tests.support.ring``), removed after."""
    made = FrameRing.create(
        multiprocessing.get_context("spawn"), slot_count=3, slot_bytes=FRAME_BYTES
    )
    yield made
    made.close()

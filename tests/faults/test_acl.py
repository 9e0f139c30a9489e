"""The shipped broker ACL (configs/mosquitto/edgeeye.acl), enforced by a real mosquitto
against two real appliances, cam_a and cam_b, each logged in as its own device id.

A camera's credentials (a stolen or compromised camera) are tried on the other camera:
publishing as it, commanding it, reading its commands, forgetting it.  Mosquitto drops
what its ACL denies without closing the connection, so every test judges by what a
legitimate user (Home Assistant's) receives, and sends in the same test a legitimate
message that does arrive, after the denied ones and on the same path, so the absence of
the denied ones means something.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeeye.tools.launcher import edgeeye_command
from edgeeye.tools.local_broker import find_mosquitto
from tests.support.acl_broker import AclBroker, ExampleConfigBroker, UserClient
from tests.support.appliance import Appliance
from tests.support.configs import write_config

CAMERAS = ("cam_a", "cam_b")
HOME_ASSISTANT = "homeassistant"
NOT_AUTHORIZED = 135  # MQTT 5's reason code in the PUBACK of a publish the ACL dropped
#: Device-based discovery: one retained config per camera (its 6 sensors and, remote
#: control on but snapshots not allowed, 2 controls as components).
CONFIGS_PER_CAMERA = 1


@dataclass
class Fleet:
    broker: AclBroker
    configs: dict[str, Path]
    appliances: dict[str, Appliance]


def _camera_config(folder: Path, broker: AclBroker, test_data: Path, device: str) -> Path:
    password = broker.password_file_for(device, folder)
    return write_config(
        folder / f"{device}.yaml",
        f"""
device_id: {device}
source: {{type: synthetic, fps: 2}}
model:
  path: {test_data}/models/mobilenet_v2_1.0_224_quant.tflite
  labels: {test_data}/models/imagenet_labels.txt
workers: 1
mqtt: {{host: 127.0.0.1, port: {broker.port}, username: {device}, password_file: {password}}}
outbox: {{path: {folder}/outbox-{device}.sqlite3}}
remote_control: {{enabled: true}}
""",
    )


def _node_configs(device: str) -> str:
    return f"homeassistant/device/edgeeye_{device}/config"


def _retained(broker: AclBroker, topic: str, count: int, timeout: float = 10) -> dict[str, bytes]:
    """What a Home Assistant that subscribes now gets on ``topic``: waits up to ``timeout``
    for ``count`` messages, then a moment for more."""
    late = UserClient(broker, HOME_ASSISTANT, [topic])
    try:
        late.collect(lambda r: len(r) >= count, timeout)
        return {m.topic: bytes(m.payload) for m in late.collect(lambda _r: False, 0.5)}
    finally:
        late.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Iterator[Fleet]:
    """The broker and both cameras, online with their discovery configs and settings."""
    if find_mosquitto() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    folder = tmp_path_factory.mktemp("acl")
    broker = AclBroker([*CAMERAS, HOME_ASSISTANT]).start()
    appliances: dict[str, Appliance] = {}
    try:
        configs = {cam: _camera_config(folder, broker, test_data, cam) for cam in CAMERAS}
        watcher = UserClient(broker, HOME_ASSISTANT, ["edgeeye/+/status", "homeassistant/#"])
        appliances = {cam: Appliance(configs[cam]) for cam in CAMERAS}
        expected = {f"edgeeye/{cam}/status" for cam in CAMERAS}
        up = watcher.collect(
            lambda r: (
                {m.topic for m in r if m.payload == b"online"} == expected
                and len({m.topic for m in r if m.topic.startswith("homeassistant/device/")})
                == 2 * CONFIGS_PER_CAMERA
            ),
            90,
        )
        watcher.close()
        if {m.topic for m in up if m.payload == b"online"} != expected:
            for appliance in appliances.values():
                appliance.kill_group()
                appliance.wait(10)
            pytest.fail("cameras not online: " + " | ".join(a.stderr for a in appliances.values()))
        yield Fleet(broker, configs, appliances)
    finally:
        for appliance in appliances.values():
            if appliance.process.poll() is None:
                appliance.signal(signal.SIGTERM)
        for appliance in appliances.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                appliance.wait(30)  # kills its session if it does not stop
        broker.close()


def test_a_cameras_credentials_cannot_publish_as_another_camera(fleet: Fleet) -> None:
    home_assistant = UserClient(fleet.broker, HOME_ASSISTANT, ["edgeeye/+/result"])
    impostor = UserClient(fleet.broker, "cam_a")
    spoof = json.dumps({"device": "cam_b", "labels": [{"label": "intruder", "score": 1.0}]})
    try:
        assert impostor.publish("edgeeye/cam_b/result", spoof).value == NOT_AUTHORIZED
        denied = impostor.publish("edgeeye/cam_b/status", "offline", retain=True)
        assert denied.value == NOT_AUTHORIZED
        # Home Assistant's user reads cameras; it cannot pose as one either.
        assert home_assistant.publish("edgeeye/cam_b/result", spoof).value == NOT_AUTHORIZED
        # The control: cam_a's credentials on cam_a's own topic, sent after the denied ones.
        control = json.dumps({"device": "cam_a", "labels": [], "control": True})
        assert not impostor.publish("edgeeye/cam_a/result", control).is_failure
        home_assistant.collect(lambda r: any(m.payload == control.encode() for m in r), 10)
        assert [m.topic for m in home_assistant.received if m.payload == control.encode()] == [
            "edgeeye/cam_a/result"
        ]
        assert not [m for m in home_assistant.received if m.payload == spoof.encode()]
        # cam_b's retained status is still its own, for whoever subscribes later.
        assert _retained(fleet.broker, "edgeeye/cam_b/status", 1) == {
            "edgeeye/cam_b/status": b"online"
        }
    finally:
        impostor.close()
        home_assistant.close()


def test_only_home_assistant_commands_a_camera_and_no_camera_overhears(fleet: Fleet) -> None:
    home_assistant = UserClient(fleet.broker, HOME_ASSISTANT, ["edgeeye/cam_b/settings"])
    # cam_a's credentials listen to everything cam_b gets and says, and to cam_a's own.
    impostor = UserClient(fleet.broker, "cam_a", ["edgeeye/cam_b/#", "edgeeye/cam_a/result"])
    try:
        home_assistant.collect(lambda r: bool(r), 10)  # the retained settings
        mark = len(home_assistant.received)
        impostor.publish("edgeeye/cam_b/set/min_score", "0.77")
        home_assistant.publish("edgeeye/cam_b/set/min_score", "0.55")
        # cam_b gets commands in the order the broker took them: had cam_a's got through,
        # its settings would show 0.77 before Home Assistant's 0.55.
        home_assistant.collect(
            lambda r: any(json.loads(m.payload)["min_score"] == 0.55 for m in r[mark:]), 15
        )
        changes = [json.loads(m.payload)["min_score"] for m in home_assistant.received[mark:]]
        assert changes == [0.55]
        retained = _retained(fleet.broker, "edgeeye/cam_b/settings", 1)
        assert json.loads(retained["edgeeye/cam_b/settings"])["min_score"] == 0.55
        # cam_a's credentials heard their own camera's results, nothing of cam_b's.
        impostor.collect(lambda r: len(r) >= 2, 10)
        assert {m.topic for m in impostor.received} == {"edgeeye/cam_a/result"}
    finally:
        impostor.close()
        home_assistant.close()


def _forget(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = edgeeye_command("forget", "--config", str(config), *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_cameras_credentials_cannot_forget_another_camera(fleet: Fleet) -> None:
    port = fleet.broker.port
    before = _retained(fleet.broker, _node_configs("cam_b"), CONFIGS_PER_CAMERA)
    assert len(before) == CONFIGS_PER_CAMERA
    refused = _forget(fleet.configs["cam_a"], "--device-id", "cam_b")
    assert refused.returncode == 7, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"edgeeye: error: broker 127.0.0.1:{port} refused to clear 15 of 15 topics as user"
        " cam_a (homeassistant/device/edgeeye_cam_b/config: Not authorized):"
        " forget device cam_b with its own credentials"
    )
    assert _retained(fleet.broker, _node_configs("cam_b"), CONFIGS_PER_CAMERA) == before
    assert _retained(fleet.broker, "edgeeye/cam_b/status", 1) == {"edgeeye/cam_b/status": b"online"}
    # The control: the same command with cam_a's credentials on cam_a itself clears it
    # (--force: it is running), and still leaves cam_b alone.
    own = _retained(fleet.broker, _node_configs("cam_a"), CONFIGS_PER_CAMERA)
    assert len(own) == CONFIGS_PER_CAMERA
    done = _forget(fleet.configs["cam_a"], "--force")
    assert done.returncode == 0, done.stderr
    assert set(own) <= {line.removeprefix("cleared ") for line in done.stdout.splitlines()}
    assert _retained(fleet.broker, _node_configs("cam_a"), 1, timeout=2) == {}
    assert _retained(fleet.broker, _node_configs("cam_b"), CONFIGS_PER_CAMERA) == before


def test_the_example_broker_config_demands_passwords_and_applies_the_acl_over_tls() -> None:
    """configs/mosquitto/edgeeye.conf as shipped (its paths and ports aside), reached as
    cameras and Home Assistant reach it: TLS with the CA the role copies."""
    if find_mosquitto() is None or shutil.which("openssl") is None:
        pytest.skip("mosquitto or openssl is not installed")
    with ExampleConfigBroker(["cam_a", HOME_ASSISTANT]) as broker:
        tls = {"port": broker.tls_port, "ca_file": broker.ca_file}
        with pytest.raises(ConnectionRefusedError, match="Not authorized"):
            UserClient(broker, None, **tls)  # anonymous, over TLS
        with pytest.raises(ConnectionRefusedError, match="Not authorized"):
            UserClient(broker, None, port=broker.local_port)  # anonymous, on the local port
        home_assistant = UserClient(broker, HOME_ASSISTANT, ["edgeeye/#"], **tls)
        camera = UserClient(broker, "cam_a", **tls)
        local = UserClient(broker, "cam_a", port=broker.local_port)
        try:
            assert camera.publish("edgeeye/cam_b/result", "spoof").value == NOT_AUTHORIZED
            assert not camera.publish("edgeeye/cam_a/result", "over TLS").is_failure
            assert not local.publish("edgeeye/cam_a/result", "local").is_failure
            home_assistant.collect(lambda r: len(r) >= 2, 10)
            assert [
                (m.topic, m.payload) for m in home_assistant.collect(lambda _r: False, 0.5)
            ] == [
                ("edgeeye/cam_a/result", b"over TLS"),
                ("edgeeye/cam_a/result", b"local"),
            ]
        finally:
            for client in (home_assistant, camera, local):
                client.close()

"""Credentials and TLS against a real mosquitto that demands them.

The broker's password file comes from ``mosquitto_passwd`` and its certificates from
``openssl``, made by the test; nothing is mocked.  The password never appears in what
the appliance prints.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from edgeeye.tools.launcher import edgeeye_command
from edgeeye.tools.local_broker import LocalBroker, find_mosquitto
from tests.support.appliance import Appliance
from tests.support.certificates import make_certificates
from tests.support.configs import small_model_config
from tests.support.processes import lingering, shm_segments

PASSWORD = "s3cret-Pa55-not-in-logs"


def _broker_or_skip(*options: str) -> LocalBroker:
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    return LocalBroker(listener_options=options)


@pytest.fixture
def password_broker():
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
    broker = _broker_or_skip()
    passwords = broker.dir / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "cam", PASSWORD], check=True)
    os.chmod(passwords, 0o644)
    broker._listener_options = ("allow_anonymous false", f"password_file {passwords}")
    with broker:
        yield broker


def _config(tmp_path: Path, broker: LocalBroker, test_data: Path, mqtt: str) -> Path:
    source = "{type: synthetic, fps: 20}"
    return small_model_config(tmp_path, broker.port, test_data, source=source, workers=1, mqtt=mqtt)


def _results_with(
    broker: LocalBroker, subscriber_args: list[str], count: int, appliance: Appliance
) -> list[dict]:
    """What ``mosquitto_sub`` (the broker's own client) receives with these options; then
    the appliance is stopped with SIGTERM (the caller checks how it exited)."""
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto_sub is not installed (apt-get install mosquitto-clients)")
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port)]
    command += ["-t", "edgeeye/cam1/result", "-C", str(count), "-W", "30", *subscriber_args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    appliance.signal(signal.SIGTERM)
    if done.returncode != 0:
        appliance.wait(30)
        pytest.fail(f"mosquitto_sub: {done.stderr.strip()}; the appliance said: {appliance.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def _assert_refused(appliance: Appliance, line: str) -> None:
    """Exit 7 with ``line`` as the last word, and no process or segment left behind."""
    assert appliance.wait(60) == 7, appliance.stderr
    assert appliance.stderr.strip().splitlines()[-1] == f"edgeeye: error: {line}"
    assert not lingering(appliance.process.pid)
    assert not [s for s in shm_segments() if s.startswith(f"edgeeye_{appliance.process.pid}_")]


def test_username_and_password_file_are_accepted_and_the_password_never_printed(
    tmp_path, password_broker, test_data, appliance_factory
):
    (tmp_path / "password").write_text(PASSWORD + "\n")
    config = _config(
        tmp_path,
        password_broker,
        test_data,
        f"username: cam, password_file: {tmp_path / 'password'}",
    )
    appliance = appliance_factory(config, "--duration", "60")
    results = _results_with(password_broker, ["-u", "cam", "-P", PASSWORD], 5, appliance)
    assert len(results) == 5 and all(r["device"] == "cam1" for r in results)
    assert appliance.wait(30) == 0, appliance.stderr
    assert PASSWORD not in appliance.stderr
    checked = subprocess.run(
        edgeeye_command("check-config", str(config)), capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0 and "password_file" in checked.stdout
    assert PASSWORD not in checked.stdout + checked.stderr


def test_a_systemd_credential_supplies_the_password(
    tmp_path, password_broker, test_data, appliance_factory
):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mqtt-password").write_text(PASSWORD)
    config = _config(
        tmp_path, password_broker, test_data, "username: cam, password_credential: mqtt-password"
    )
    appliance = appliance_factory(
        config, "--duration", "60", env={"CREDENTIALS_DIRECTORY": str(credentials)}
    )
    assert len(_results_with(password_broker, ["-u", "cam", "-P", PASSWORD], 3, appliance)) == 3
    assert appliance.wait(30) == 0, appliance.stderr


def test_a_wrong_password_exits_7_naming_the_broker_and_leaves_nothing(
    tmp_path, password_broker, test_data, appliance_factory
):
    (tmp_path / "password").write_text("wrong\n")
    config = _config(
        tmp_path, password_broker, test_data, f"username: cam, password_file: {tmp_path}/password"
    )
    appliance = appliance_factory(config)
    _assert_refused(
        appliance,
        f"broker 127.0.0.1:{password_broker.port} refused the connection:"
        " Not authorized (check mqtt.username and the password)",
    )


def test_an_unreadable_password_file_exits_2_naming_it(
    tmp_path, broker, test_data, appliance_factory
):
    config = _config(
        tmp_path, broker, test_data, f"username: cam, password_file: {tmp_path}/missing"
    )
    appliance = appliance_factory(config)
    assert appliance.wait(60) == 2
    assert appliance.stderr.strip().splitlines()[-1] == (
        f"edgeeye: error: mqtt.password_file: {tmp_path}/missing: cannot read:"
        " No such file or directory"
    )


def test_tls_with_our_ca_delivers_results(tmp_path, test_data, appliance_factory):
    broker = _broker_or_skip()
    files = make_certificates(broker.dir)
    broker._listener_options = (
        f"cafile {files['ca']}",
        f"certfile {files['server']}",
        f"keyfile {files['server-key']}",
    )
    with broker:
        config = _config(tmp_path, broker, test_data, f"tls: {{ca_file: {files['ca']}}}")
        appliance = appliance_factory(config, "--duration", "60")
        results = _results_with(broker, ["--cafile", str(files["ca"])], 3, appliance)
        assert len(results) == 3
        assert appliance.wait(30) == 0, appliance.stderr


@pytest.mark.slow
def test_plain_mqtt_to_a_tls_port_says_so_once_and_keeps_results(
    tmp_path, test_data, appliance_factory
):
    broker = _broker_or_skip()
    files = make_certificates(broker.dir)
    broker._listener_options = (f"certfile {files['server']}", f"keyfile {files['server-key']}")
    with broker:
        config = _config(tmp_path, broker, test_data, "reconnect_max_s: 1")
        appliance = appliance_factory(config, "--duration", "8")
        assert appliance.wait(30) == 0, appliance.stderr
    hint = f"broker 127.0.0.1:{broker.port} closed the connection before accepting it"
    assert appliance.stderr.count(hint) == 1, appliance.stderr
    assert "is it a TLS port (see mqtt.tls)?" in appliance.stderr
    outbox = tmp_path / "state" / "edgeeye" / "outbox-cam1.sqlite3"
    assert outbox.stat().st_size > 0  # the results wait for a broker that can take them


def test_a_missing_ca_file_exits_2_naming_the_key(tmp_path, broker, test_data, appliance_factory):
    config = _config(tmp_path, broker, test_data, f"tls: {{ca_file: {tmp_path}/nope.pem}}")
    appliance = appliance_factory(config)
    assert appliance.wait(60) == 2
    assert appliance.stderr.strip().splitlines()[-1] == (
        f"edgeeye: error: mqtt.tls.ca_file: {tmp_path}/nope.pem: cannot read"
    )


def test_a_broker_certificate_our_ca_does_not_trust_exits_7_naming_the_broker(
    tmp_path, test_data, appliance_factory
):
    broker = _broker_or_skip()
    files = make_certificates(broker.dir)
    (tmp_path / "other").mkdir()
    other_ca = make_certificates(tmp_path / "other")["ca"]  # a CA that signed nothing here
    broker._listener_options = (f"certfile {files['server']}", f"keyfile {files['server-key']}")
    with broker:
        config = _config(tmp_path, broker, test_data, f"tls: {{ca_file: {other_ca}}}")
        appliance = appliance_factory(config, "--duration", "60")
        _assert_refused(
            appliance,
            f"broker 127.0.0.1:{broker.port}: TLS certificate not trusted:"
            " unable to get local issuer certificate (check mqtt.tls.ca_file)",
        )


@pytest.mark.slow
def test_tls_to_a_plain_port_says_so_once_and_keeps_results(
    tmp_path, broker, test_data, appliance_factory
):
    (tmp_path / "certs").mkdir()
    ca = make_certificates(tmp_path / "certs")["ca"]
    config = _config(tmp_path, broker, test_data, f"reconnect_max_s: 1, tls: {{ca_file: {ca}}}")
    appliance = appliance_factory(config, "--duration", "8")
    assert appliance.wait(30) == 0, appliance.stderr
    assert appliance.stderr.count(f"cannot reach broker 127.0.0.1:{broker.port}: ") == 1
    assert "(is it a plain MQTT port? see mqtt.tls)" in appliance.stderr, appliance.stderr
    outbox = tmp_path / "state" / "edgeeye" / "outbox-cam1.sqlite3"
    assert outbox.stat().st_size > 0  # the results wait for a broker that can take them

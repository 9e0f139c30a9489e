"""Fixtures of the deploy suite: an SSH key, wheelhouses, booted targets, a broker they
reach, and real ``ansible-playbook`` runs of ``ansible/site.yml`` with their recap read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeeye.tools.local_broker import LocalBroker
from tests.conftest import REPO, TEST_DATA
from tests.deploy.targets import SSH_OPTIONS, Target, missing_requirement, wheel_cache

ANSIBLE = REPO / "ansible"
#: The example vault's password and what it holds (ansible/group_vars/edgeeye/vault.yml).
VAULT_PASSWORD = "edgeeye-example"
MQTT_USER, MQTT_PASSWORD = "edgeeye", "example-mqtt-password-change-me"
_RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


@pytest.fixture(scope="session")
def deploy_dir(tmp_path_factory) -> Path:
    reason = missing_requirement()
    if reason is None and shutil.which("ansible-playbook", path=_bin_path()) is None:
        reason = "ansible-playbook is not installed (pip install -e '.[deploy]')"
    if reason is None and not (TEST_DATA / "models").is_dir():
        reason = f"test data not found at {TEST_DATA} (set EDGEEYE_TEST_DATA)"
    if reason:
        pytest.skip(reason)
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="session")
def ssh_key(deploy_dir) -> Path:
    key = deploy_dir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def build_wheelhouse(folder: Path, source: Path = REPO) -> Path:
    """The cached dependency wheels plus a wheel of ``source`` built now (no download)."""
    folder.mkdir(parents=True)
    for wheel in wheel_cache().glob("*.whl"):
        if not wheel.name.startswith("edgeeye-"):
            shutil.copy(wheel, folder)
    subprocess.run(
        [str(source / "ansible" / "build-wheels"), "--arch", "x86_64", "--offline",
         "--out", str(folder)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def wheelhouse(deploy_dir) -> Path:
    return build_wheelhouse(deploy_dir / "wheels")


@pytest.fixture(scope="session")
def broken_wheelhouse(deploy_dir) -> Path:
    """Release 0.1.1, whose workers crash before they load the model: it cannot start."""
    source = deploy_dir / "broken-release"
    shutil.copytree(REPO / "edgeeye", source / "edgeeye")
    shutil.copytree(REPO / "ansible", source / "ansible", ignore=shutil.ignore_patterns("wheels"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    init = source / "edgeeye" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.1"'))
    worker = source / "edgeeye" / "worker.py"
    text = worker.read_text()
    entry = "    ring = FrameRing.attach(spec.ring)"
    assert entry in text, "run_worker changed: update the broken release"
    worker.write_text(text.replace(entry, '    raise RuntimeError("release 0.1.1 bug")\n' + entry))
    return build_wheelhouse(deploy_dir / "broken-wheels", source)


def start_targets(deploy_dir: Path, ssh_key: Path, names: dict[str, int]) -> list[Target]:
    targets: list[Target] = []
    try:
        for name, index in names.items():
            targets.append(Target(name, index, deploy_dir / name, ssh_key).start())
    except BaseException:
        for target in targets:
            target.stop()
        raise
    return targets


def target_broker(hosts: list[str], port: int | None = None) -> LocalBroker:
    """A running mosquitto the targets reach on ``hosts`` (their host addresses) at ``port``
    (default: the broker's own) with the vault's password, and the tests on 127.0.0.1
    at ``broker.port`` (anonymous)."""
    broker = LocalBroker(prelude=("per_listener_settings true",))
    passwords = broker.dir / "passwords"  # a folder mosquitto may read
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), MQTT_USER, MQTT_PASSWORD], check=True
    )
    os.chmod(passwords, 0o644)
    remote = []
    for host in hosts:
        remote += [f"listener {port or broker.port} {host}", "allow_anonymous false",
                   f"password_file {passwords}"]  # fmt: skip
    broker._listener_options = ("allow_anonymous true", *remote)
    return broker.start()


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]]

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]


class Playbook:
    """``ansible-playbook ansible/site.yml`` against these targets, as a user runs it."""

    def __init__(
        self,
        targets: list[Target],
        broker: LocalBroker,
        folder: Path,
        wheelhouse: Path,
        ssh_key: Path | None = None,
    ) -> None:
        self.folder = folder
        self.wheelhouse = wheelhouse
        ssh_key = ssh_key or folder / "id_ed25519"
        self.hosts = {
            target.name: {
                "ansible_host": target.address,
                "ansible_port": target.ssh_port,
                "ansible_user": "pi",
                "ansible_ssh_private_key_file": str(ssh_key),
                "ansible_ssh_common_args": SSH_OPTIONS,
                "edgeeye_mqtt_host": target.host_address,
                "edgeeye_mqtt_port": getattr(target, "mqtt_port", broker.port),
                "edgeeye_model_src": str(TEST_DATA / "models/mobilenet_v1_0.25_128_quant.tflite"),
                "edgeeye_labels_src": str(TEST_DATA / "models/imagenet_labels.txt"),
                "edgeeye_source": {"type": "synthetic", "fps": 10},
                "edgeeye_config_extra": {"workers": 1},
            }
            for target in targets
        }
        self._vault_password = folder / "vault-password"
        self._vault_password.write_text(VAULT_PASSWORD + "\n")

    def run(self, wheelhouse: Path | None = None, **host_vars: object) -> PlaybookRun:
        """One run with these host variables on top; ``wheelhouse`` is the release."""
        hosts = {name: {**values, **host_vars} for name, values in self.hosts.items()}
        for values in hosts.values():
            values["edgeeye_wheelhouse"] = str(wheelhouse or self.wheelhouse)
        inventory = self.folder / "inventory.json"
        inventory.write_text(json.dumps({"edgeeye": {"hosts": hosts}}))
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(_bin_path()) / "ansible-playbook"), "-i", str(inventory),
             "--vault-password-file", str(self._vault_password), str(ANSIBLE / "site.yml")],
            cwd=ANSIBLE,
            env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
                 "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
        recap = {}
        for line in done.stdout.splitlines():
            if match := _RECAP.match(line):
                name, ok, changed, unreachable, failed = match.groups()
                recap[name] = {"ok": int(ok), "changed": int(changed),
                               "unreachable": int(unreachable), "failed": int(failed)}  # fmt: skip
        return PlaybookRun(done.returncode, done.stdout + done.stderr, seconds, recap)


def _bin_path() -> str:
    return str(Path(sys.executable).parent)


@pytest.fixture
def note() -> Iterator:
    """Print a figure so that it shows in the test log (pytest -s or the summary)."""
    lines: list[str] = []
    yield lines.append
    for line in lines:
        print(f"\n[deploy] {line}", end="")

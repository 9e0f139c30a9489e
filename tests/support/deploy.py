"""The deploy rig: wheelhouses, booted targets, a broker they reach, and real
``ansible-playbook`` runs of ``ansible/site.yml`` with their recap read."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edgeeye.tools.local_broker import LocalBroker, free_port
from tests.support.certificates import make_certificates
from tests.support.fakes import HANGING_INTERPRETER
from tests.support.paths import REPO, TEST_DATA
from tests.support.targets import SSH_OPTIONS, Target, wheel_cache

ANSIBLE = REPO / "ansible"
#: The example vault's password (ansible/group_vars/edgeeye/vault.yml).
VAULT_PASSWORD = "edgeeye-example"
#: The broker's ACL as shipped: each target logs in as its own device id, confined by it.
ACL_FILE = REPO / "configs" / "mosquitto" / "edgeeye.acl"
#: Where a target keeps tests/fakes/hanging_interpreter: readable by the hardened service
#: (ProtectSystem=strict leaves /usr read-only, not hidden; ProtectHome hides /home).
HANGING_INTERPRETER_ON_TARGET = "/usr/local/lib/edgeeye-fakes/hanging_interpreter"
_RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def bin_path() -> str:
    """The folder of this Python's commands (ansible-playbook is installed beside it)."""
    return str(Path(sys.executable).parent)


def build_wheelhouse(folder: Path, source: Path = REPO, python: str = "3.13") -> Path:
    """The cached dependency wheels for ``python`` (and what they are for, wheelhouse.json
    and requirements.txt) plus a wheel of ``source`` built now (no download)."""
    folder.mkdir(parents=True)
    for item in wheel_cache(python=python).iterdir():
        if not item.name.startswith("edgeeye-"):
            shutil.copy(item, folder)
    subprocess.run(
        [str(source / "ansible" / "build-wheels"), "--arch", "x86_64", "--python", python,
         "--offline", "--out", str(folder)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder


def broken_release(folder: Path) -> Path:
    """A copy of the project as release 0.1.1, whose workers crash before they load the
    model: it cannot start."""
    shutil.copytree(REPO / "edgeeye", folder / "edgeeye")
    shutil.copytree(REPO / "models", folder / "models")  # installed as edgeeye.models
    shutil.copytree(REPO / "ansible", folder / "ansible", ignore=shutil.ignore_patterns("wheels"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, folder)
    init = folder / "edgeeye" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "0.1.1"'))
    worker = folder / "edgeeye" / "pipeline" / "worker.py"
    text = worker.read_text()
    entry = "    ring = FrameRing.attach(spec.ring)"
    assert entry in text, "run_worker changed: update the broken release"
    worker.write_text(text.replace(entry, '    raise RuntimeError("release 0.1.1 bug")\n' + entry))
    return folder


def start_targets(
    deploy_dir: Path, ssh_key: Path, names: dict[str, int], release: str = "trixie"
) -> list[Target]:
    targets: list[Target] = []
    try:
        for name, index in names.items():
            targets.append(Target(name, index, deploy_dir / name, ssh_key, release).start())
    except BaseException:
        for target in targets:
            target.stop()
        raise
    return targets


def install_hanging_interpreter(target: Target) -> str:
    """tests/fakes/hanging_interpreter on the target; its folder, for the service's
    PYTHONPATH (with EDGEEYE_FAKE_HANG, as in the fault tests)."""
    target.copy_in(HANGING_INTERPRETER, HANGING_INTERPRETER_ON_TARGET)
    return HANGING_INTERPRETER_ON_TARGET


def mqtt_password(device_id: str) -> str:
    """The MQTT password of the target whose device id (and MQTT user) is ``device_id``."""
    return f"example-password-{device_id}"


class TargetBroker(LocalBroker):
    """The targets' broker: plain MQTT on ``port`` and MQTT over TLS on ``tls_port`` (its
    certificate signed by ``ca_file``, for the targets' addresses) on each target-facing
    address, each device its own user under the shipped ACL; anonymous on 127.0.0.1."""

    def __init__(self, hosts: list[str], devices: list[str], port: int | None = None) -> None:
        super().__init__(prelude=("per_listener_settings true",))
        passwords = self.dir / "passwords"  # a folder mosquitto may read
        for position, device in enumerate(devices):
            create = ["-c"] if position == 0 else []
            subprocess.run(
                ["mosquitto_passwd", "-b", *create, str(passwords), device, mqtt_password(device)],
                check=True,
            )
        acl = self.dir / "edgeeye.acl"
        shutil.copyfile(ACL_FILE, acl)
        for path in (passwords, acl):
            os.chmod(path, 0o644)
        certificates = make_certificates(self.dir / "tls", ",".join(f"IP:{h}" for h in hosts))
        self.ca_file = certificates["ca"]
        self.tls_port = free_port()
        users = ["allow_anonymous false", f"password_file {passwords}", f"acl_file {acl}"]
        remote = []
        for host in hosts:
            remote += [f"listener {port or self.port} {host}", *users]
            remote += [f"listener {self.tls_port} {host}", *users,
                       f"cafile {certificates['ca']}", f"certfile {certificates['server']}",
                       f"keyfile {certificates['server-key']}"]  # fmt: skip
        self._listener_options = ("allow_anonymous true", *remote)


def target_broker(hosts: list[str], devices: list[str], port: int | None = None) -> TargetBroker:
    """A running ``TargetBroker`` the targets reach on ``hosts`` (their host addresses) at
    ``port`` (default: the broker's own) as ``devices``."""
    broker = TargetBroker(hosts, devices, port)
    return broker.start()  # type: ignore[return-value]  # start() returns self


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
                "edgeeye_mqtt_password": mqtt_password(target.name),
                "edgeeye_model_src": str(TEST_DATA / "models/mobilenet_v1_0.25_128_quant.tflite"),
                "edgeeye_labels_src": str(TEST_DATA / "models/imagenet_labels.txt"),
                "edgeeye_source": {"type": "synthetic", "fps": 10},
                "edgeeye_config_extra": {"workers": 1},
            }
            for target in targets
        }
        self._vault_password = folder / "vault-password"
        self._vault_password.write_text(VAULT_PASSWORD + "\n")

    def run(
        self, wheelhouse: Path | None = None, timeout: float = 900, **host_vars: object
    ) -> PlaybookRun:
        """One run with these host variables on top; ``wheelhouse`` is the release."""
        hosts = {name: {**values, **host_vars} for name, values in self.hosts.items()}
        for values in hosts.values():
            values["edgeeye_wheelhouse"] = str(wheelhouse or self.wheelhouse)
        inventory = self.folder / "inventory.json"
        inventory.write_text(json.dumps({"edgeeye": {"hosts": hosts}}))
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(bin_path()) / "ansible-playbook"), "-i", str(inventory),
             "--vault-password-file", str(self._vault_password), str(ANSIBLE / "site.yml")],
            cwd=ANSIBLE,
            env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
                 "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
            capture_output=True,
            text=True,
            timeout=timeout,
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

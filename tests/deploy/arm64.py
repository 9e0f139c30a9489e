"""The Pi's own architecture: the playbook against an emulated arm64 Trixie (or Bookworm)
machine, and one real photograph classified inside it.  Too slow for CI; run it by hand:

    sudo .venv/bin/python -m tests.deploy.arm64 [--release trixie|bookworm]

It builds (once, cached in $EDGEEYE_DEPLOY_CACHE) the arm64 tree (tests/deploy/make-image
arm64 <release>, 20+ minutes under qemu-user) and a disk image of it, gathers the aarch64
wheels for the release's Python (ansible/build-wheels --arch aarch64 --python 3.13 or 3.11,
from PyPI), boots the image under
qemu-system-aarch64 (-accel tcg, user networking restrict=on: SSH forwarded from a
127.0.0.1 port, the broker reached through a guestfwd), runs ansible/site.yml twice
(converge, then idempotence) with an images source holding parrot.jpg and
mobilenet_v2_1.0_224_quant, and waits for the result "macaw".  It prints its figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edgeeye.tools.local_broker import free_port
from tests.support.deploy import Playbook, target_broker
from tests.support.mqtt import Subscriber
from tests.support.paths import REPO, TEST_DATA
from tests.support.targets import CACHE, RELEASES, Target, base_tree

GUEST_BROKER = "10.0.2.100"  # the guestfwd address the target publishes to
IMAGE_EXTRA_MB = 2048  # room for the virtualenv, the wheels and the model


def _disk_image(key: Path, release: str) -> Path:
    """A raw ext4 image of the arm64 tree with our SSH key, made once (mkfs.ext4 -d)."""
    image = CACHE / f"{release}-arm64.img"
    if image.exists():
        return image
    tree = base_tree(release, "arm64")
    subprocess.run(["bash", str(REPO / "tests/deploy/make-image"), "arm64", release], check=True)
    ssh_dir = tree / "home/pi/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    for path in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(path, 1000, 1000)
    (tree / "etc/hostname").write_text("cam-arm64\n")
    with (tree / "etc/hosts").open("a") as hosts:
        hosts.write("127.0.1.1 cam-arm64\n")
    used_mb = int(subprocess.check_output(["du", "-sm", str(tree)]).split()[0])
    partial = image.with_name(image.name + ".partial")  # not make-image's tree.partial
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(tree), str(partial),
         f"{used_mb + IMAGE_EXTRA_MB}M"],
        check=True,
    )  # fmt: skip
    partial.rename(image)
    return image


class QemuTarget(Target):
    """The arm64 image booted by qemu-system-aarch64; reached on 127.0.0.1:<ssh_port>."""

    def __init__(self, workdir: Path, ssh_key: Path, broker_port: int, release: str) -> None:
        super().__init__("cam-arm64", 0, workdir, ssh_key, release)
        self.address, self.host_address = "127.0.0.1", GUEST_BROKER
        self.ssh_port = free_port()
        self.mqtt_port = 1883
        self._broker_port = broker_port
        self._qemu: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 600.0) -> QemuTarget:
        tree = base_tree(self.release, "arm64")
        kernel = sorted((tree / "boot").glob("vmlinuz-*"))[-1]
        initrd = sorted((tree / "boot").glob("initrd.img-*"))[-1]
        self._workdir.mkdir(parents=True, exist_ok=True)
        overlay = self._workdir / "disk.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
             str(_disk_image(self._ssh_key, self.release)), str(overlay)],
            check=True,
        )  # fmt: skip
        # guestfwd runs the relay once per connection the guest opens (a tcp: chardev
        # would carry a single connection for the life of the VM).
        relay = f"{sys.executable} -m tests.deploy.arm64 --relay {self._broker_port}"
        network = (
            f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
            f"guestfwd=tcp:{GUEST_BROKER}:{self.mqtt_port}-cmd:{relay}"
        )
        with self.console_log.open("wb") as console:
            self._qemu = subprocess.Popen(
                ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2",
                 "-m", "2048", "-accel", "tcg", "-nographic", "-kernel", str(kernel),
                 "-initrd", str(initrd),
                 "-append", "root=LABEL=root rw console=ttyAMA0 net.ifnames=0",
                 "-drive", f"file={overlay},if=virtio,format=qcow2",
                 "-netdev", network, "-device", "virtio-net-pci,netdev=net0"],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )  # fmt: skip
        self.wait_for_ssh(self._qemu, timeout)
        return self

    def stop(self) -> None:
        if self._qemu is not None and self._qemu.poll() is None:
            self.ssh("systemctl poweroff", check=False, timeout=20)
            try:
                self._qemu.wait(60)
            except subprocess.TimeoutExpired:
                self._qemu.kill()
                self._qemu.wait(10)
        self._qemu = None
        shutil.rmtree(self._workdir, ignore_errors=True)


def relay(port: int) -> None:
    """Carry one guest connection (stdin/stdout from qemu) to 127.0.0.1:``port``."""
    connection = socket.create_connection(("127.0.0.1", port))

    def upstream() -> None:
        while data := os.read(0, 65536):
            connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    while data := connection.recv(65536):
        os.write(1, data)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--relay":
        relay(int(sys.argv[2]))
        return 0
    release = sys.argv[2] if len(sys.argv) == 3 and sys.argv[1] == "--release" else "trixie"
    if release not in RELEASES or len(sys.argv) not in (1, 3):
        print("usage: python -m tests.deploy.arm64 [--release trixie|bookworm]")
        return 2
    if os.geteuid() != 0:
        print("tests.deploy.arm64: run as root (mkfs.ext4 -d of a root-owned tree)")
        return 2
    figures: dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="edgeeye-arm64-"))
    key = CACHE / "arm64-key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    started = time.monotonic()
    _disk_image(key, release)
    figures["image (cached after the first run)"] = f"{time.monotonic() - started:.0f} s"
    wheels = CACHE / f"wheels-aarch64-py{RELEASES[release]}"
    subprocess.run(
        [
            str(REPO / "ansible/build-wheels"),
            "--arch",
            "aarch64",
            "--python",
            RELEASES[release],
            "--out",
            str(wheels),
        ],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # The guest reaches the broker through its guestfwd on a loopback port of its own.
    guest_port = free_port()
    broker = target_broker(["127.0.0.1"], ["cam-arm64"], port=guest_port)
    with contextlib.ExitStack() as stack:
        stack.callback(broker.close)
        target = QemuTarget(work / "target", key, guest_port, release)
        stack.callback(target.stop)
        booted = time.monotonic()
        target.start()
        figures["boot to SSH (tcg)"] = f"{time.monotonic() - booted:.0f} s"
        target.ssh("mkdir -p /opt/edgeeye-photos")
        photo = TEST_DATA / "images" / "parrot.jpg"
        subprocess.run(
            ["ssh", "-i", str(key), "-p", str(target.ssh_port), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "pi@127.0.0.1",
             "sudo tee /opt/edgeeye-photos/parrot.jpg >/dev/null"],
            input=photo.read_bytes(),
            check=True,
        )  # fmt: skip
        subscriber = Subscriber(broker, "edgeeye/cam-arm64/#")
        stack.callback(subscriber.close)
        playbook = Playbook([target], broker, work, wheels, ssh_key=key)
        host_vars = {
            "edgeeye_source": {"type": "images", "path": "/opt/edgeeye-photos", "fps": 1},
            "edgeeye_model_src": str(TEST_DATA / "models/mobilenet_v2_1.0_224_quant.tflite"),
            "edgeeye_config_extra": {"workers": 2},
        }
        # Emulated (tcg): about 14 minutes on an idle machine of this kind, more when busy.
        converge = playbook.run(timeout=3600, **host_vars)
        print(converge.output[-2500:])
        if converge.returncode != 0:
            return 1
        figures["converge"] = f"{converge.seconds:.0f} s, {converge.changed('cam-arm64')} changed"
        received = subscriber.collect(lambda r: any(m.topic.endswith("/result") for m in r), 300)
        results = [json.loads(m.payload) for m in received if m.topic.endswith("/result")]
        if not results:
            print("no result from the arm64 target; its journal:")
            print(target.ssh("journalctl -u edgeeye --no-pager -n 60", check=False).stdout)
            return 1
        first = results[0]
        figures["first result"] = (
            f"{first['source']}: {first['labels'][0]['label']} {first['labels'][0]['score']:.2f},"
            f" inference {first['inference_ms']:.0f} ms (emulated)"
        )
        again = playbook.run(timeout=3600, **host_vars)
        figures["idempotence"] = f"{again.seconds:.0f} s, {again.changed('cam-arm64')} changed"
        figures["machine"] = target.ssh("uname -m; python3 --version").stdout.replace("\n", " ")
        figures["runtime"] = target.ssh(
            "/opt/edgeeye/bin/python -c 'from edgeeye.inference.interpreter import"
            " interpreter_class; print(interpreter_class()[1])'"
        ).stdout.strip()
    for name, value in figures.items():
        print(f"{name}: {value}")
    ok = first["labels"][0]["label"] == "macaw" and again.changed("cam-arm64") == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

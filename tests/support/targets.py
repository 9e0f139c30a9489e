"""Booted Debian machines for the deploy tests, made and removed by the suite: Trixie, as
Raspberry Pi OS is today, and Bookworm, its legacy release.

Each target is the cached base tree (``make-image``) under a copy-on-write overlay, booted
by ``systemd-nspawn --boot`` with systemd as PID 1, in a network namespace of its own
joined to the host by a veth pair: host 10.231.N.1, target 10.231.N.2.  That pair is the
target's only link, so it reaches nothing but what the suite serves on 10.231.N.1 (the
test broker), exactly like an air-gapped Pi.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CACHE = Path(os.environ.get("EDGEEYE_DEPLOY_CACHE", "/var/tmp/edgeeye-deploy"))
SSH_OPTIONS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    " -o BatchMode=yes -o ConnectTimeout=5"
)


#: Each release the suite boots, and the Python it has (the wheelhouse it needs).
RELEASES = {"trixie": "3.13", "bookworm": "3.11"}


def base_tree(release: str = "trixie", arch: str = "amd64") -> Path:
    return CACHE / f"{release}-{arch}"


def wheel_cache(arch: str = "x86_64", python: str = "3.13") -> Path:
    """Dependency wheels gathered by ``.ci/setup`` (``ansible/build-wheels``)."""
    return CACHE / f"wheels-{arch}-py{python}"


def missing_requirement() -> str | None:
    """Why the deploy tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the deploy tests boot containers and need root"
    for command in ("systemd-nspawn", "ip", "ssh", "ssh-keygen", "mount"):
        if shutil.which(command) is None:
            return f"{command} is not installed (.ci/setup-tests installs it)"
    for release, python in RELEASES.items():
        if not (base_tree(release) / ".complete").exists():
            return f"no base image in {base_tree(release)} (run tests/deploy/make-image)"
        if not (wheel_cache(python=python) / "wheelhouse.json").exists():
            return f"no dependency wheels in {wheel_cache(python=python)} (run .ci/setup-tests)"
    return None


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=check)


class Target:
    """One booted machine.  ``start()``, then ``ssh()``; ``stop()`` removes every trace."""

    def __init__(
        self, name: str, index: int, workdir: Path, ssh_key: Path, release: str = "trixie"
    ) -> None:
        self.name = name
        self.release = release
        self.host_address = f"10.231.{index}.1"
        self.address = f"10.231.{index}.2"
        self._netns = f"edgeeye-{name}"
        self._veth = f"ee{index}h"
        self._workdir = workdir
        self._root = workdir / "root"
        self._ssh_key = ssh_key
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.console_log = workdir / "console.log"
        self.ssh_port = 22

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Target:
        self._make_network()
        self._mount_layer()
        self._personalise()
        with self.console_log.open("wb") as console:
            self._nspawn = subprocess.Popen(
                [
                    "systemd-nspawn",
                    "--boot",
                    "--register=no",
                    "--keep-unit",
                    "--console=read-only",
                    f"--machine={self.name}",
                    f"--network-namespace-path=/run/netns/{self._netns}",
                    f"--directory={self._root}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
            )
        self.wait_for_ssh(self._nspawn, timeout)
        return self

    def stop(self) -> None:
        """Power the machine off (SIGTERM asks its systemd to halt), then remove it."""
        if self._nspawn is not None and self._nspawn.poll() is None:
            self._nspawn.send_signal(signal.SIGTERM)
            try:
                self._nspawn.wait(30)
            except subprocess.TimeoutExpired:
                self._nspawn.kill()
                self._nspawn.wait(10)
        self._nspawn = None
        if _run("umount", str(self._root), check=False).returncode != 0:
            _run("umount", "--lazy", str(self._root), check=False)
        _run("ip", "link", "del", self._veth, check=False)
        _run("ip", "netns", "del", self._netns, check=False)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Target:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- using it ------------------------------------------------------------------------

    def ssh(
        self, command: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``command`` as root on the target (through the ``pi`` user's sudo, as Ansible)."""
        done = subprocess.run(
            [
                "ssh",
                *SSH_OPTIONS.split(),
                "-i",
                str(self._ssh_key),
                "-p",
                str(self.ssh_port),
                f"pi@{self.address}",
                "sudo",
                "sh",
                "-c",
                _quote(command),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{self.name}: {command!r} exited {done.returncode}: {done.stderr.strip()}"
            )
        return done

    def copy_in(self, folder: Path, destination: str) -> None:
        """``folder`` at ``destination`` on the target, owned by root and readable by every
        user: written into its root tree, as ``scp`` and ``install`` would leave it."""
        inside = self._root / destination.lstrip("/")
        shutil.copytree(
            folder, inside, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
        )
        for path in [inside, *inside.rglob("*")]:
            os.chown(path, 0, 0)
            path.chmod(0o755 if path.is_dir() else 0o644)

    def service(self, prop: str) -> str:
        """A property of edgeeye.service as systemd sees it (MainPID, NRestarts, ...)."""
        return self.ssh(f"systemctl show -p {prop} --value edgeeye").stdout.strip()

    # -- making it -----------------------------------------------------------------------

    def wait_for_ssh(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        """Until the machine's systemd says it is up (or degraded) over SSH."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                console = self.console_log.read_text(errors="replace")[-800:]
                raise RuntimeError(f"{self.name} did not boot: {console}")
            if self.ssh("systemctl is-system-running --wait", check=False).returncode in (0, 1):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{self.name}: no SSH after {timeout:.0f} s")

    def _make_network(self) -> None:
        self.stop_network_leftovers()
        _run("ip", "netns", "add", self._netns)
        _run("ip", "link", "add", self._veth, "type", "veth", "peer", "name", "eth0", "netns",
             self._netns)  # fmt: skip
        _run("ip", "addr", "add", f"{self.host_address}/24", "dev", self._veth)
        _run("ip", "link", "set", self._veth, "up")
        inside = ("ip", "netns", "exec", self._netns)
        _run(*inside, "ip", "addr", "add", f"{self.address}/24", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "link", "set", "lo", "up")

    def stop_network_leftovers(self) -> None:
        """A run killed half-way leaves its namespace and veth; clear them first."""
        _run("ip", "link", "del", self._veth, check=False)
        _run("ip", "netns", "del", self._netns, check=False)

    def _mount_layer(self) -> None:
        upper, work = self._workdir / "upper", self._workdir / "work"
        for folder in (upper, work, self._root):
            folder.mkdir(parents=True, exist_ok=True)
        _run(
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={base_tree(self.release)},upperdir={upper},workdir={work}",
            str(self._root),
        )  # fmt: skip

    def _personalise(self) -> None:
        root = self._root
        (root / "etc/hostname").write_text(f"{self.name}\n")
        with (root / "etc/hosts").open("a") as hosts:
            hosts.write(f"127.0.1.1 {self.name}\n")
        ssh_dir = root / "home/pi/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path(f"{self._ssh_key}.pub").read_text())
        uid, gid = _ids(root, "pi")
        for path in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(path, uid, gid)
        # A fresh machine id per target, as a freshly flashed card gets at first boot.
        with contextlib.suppress(FileNotFoundError):
            (root / "etc/machine-id").unlink()
        (root / "etc/machine-id").write_text("uninitialized\n")


def _ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise RuntimeError(f"no user {user} in {root}")


def _quote(command: str) -> str:
    return "'" + command.replace("'", "'\\''") + "'"

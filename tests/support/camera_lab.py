"""The real picamera2 on libcamera's virtual camera: a throwaway copy of the camera tree.

``tests/deploy/make-camera-image`` builds the tree once (Debian Trixie, libcamera 0.7.1 from
trixie-backports, picamera2 0.3.38 and the shims of ``tests/deploy/virtual_camera``).  A
:class:`CameraLab` puts a copy-on-write overlay over it in a folder of its own and runs
commands inside with ``systemd-nspawn``: no boot and no systemd, each command as root under
a stub init of its own, in the host's network (so a broker the test starts on 127.0.0.1 is
reachable there); ``run`` one to its end, or ``start`` one and ``stop`` it later, with
others run beside it.  The tree's ``/dev/shm`` is a tmpfs of the lab's own, which the host
reads while a command runs and after it exits.  Leaving the ``with`` block kills what still
runs and removes every mount and file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.targets import CACHE, wheel_cache

CAMERA_TREE = CACHE / "trixie-camera-amd64"
#: The camera tree's Python, for its wheelhouse.
PYTHON = "3.13"
#: systemd-nspawn says this on stderr at each exit where /run is not a tmpfs; it means
#: nothing for the command's outcome.
_NSPAWN_NOISE = "Attempted to remove disk file system under"


def missing_camera_lab(wheels: bool = True) -> str | None:
    """Why a CameraLab cannot run here, or None.  ``wheels``: also edgeeye's dependency
    wheels for the tree's Python (the tests that install edgeeye need them)."""
    if os.geteuid() != 0:
        return "the camera lab mounts an overlay and enters it with systemd-nspawn: needs root"
    for command in ("systemd-nspawn", "mount", "umount"):
        if shutil.which(command) is None:
            return f"{command} is not installed (.ci/setup-tests installs it)"
    if not (CAMERA_TREE / ".complete").exists():
        return f"no camera tree in {CAMERA_TREE} (run tests/deploy/make-camera-image)"
    cache = wheel_cache("x86_64", PYTHON)
    if wheels and not (cache / "requirements.txt").exists():
        return (
            f"no dependency wheels in {cache} (run ansible/build-wheels --arch x86_64"
            f" --python {PYTHON} --out {cache}, as .ci/setup-tests does)"
        )
    return None


class CameraLab:
    """``with CameraLab(folder) as lab:`` a private, writable copy of the camera tree."""

    def __init__(self, folder: Path, tree: Path = CAMERA_TREE) -> None:
        self.folder = folder
        self.root = folder / "root"
        self.shm = folder / "shm"  # the tree's /dev/shm
        self._tree = tree
        self._mounted: list[Path] = []
        self._processes: list[LabProcess] = []

    def __enter__(self) -> CameraLab:
        try:
            self._mount()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _mount(self) -> None:
        upper, work = self.folder / "upper", self.folder / "work"
        for folder in (upper, work, self.root, self.shm):
            folder.mkdir(parents=True, exist_ok=True)
        _run(
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={self._tree},upperdir={upper},workdir={work}", str(self.root),
        )  # fmt: skip
        self._mounted.append(self.root)
        # nspawn's own /dev/shm would vanish with each command, and with it the evidence of
        # what a stopped appliance left behind.
        _run("mount", "-t", "tmpfs", "-o", "size=256m,mode=1777", "edgeeye-lab-shm", str(self.shm))
        self._mounted.append(self.shm)

    def close(self) -> None:
        """Stop what still runs (killed), unmount, remove the folder.  Safe twice."""
        for process in self._processes:
            process.kill()
        self._processes = []
        while self._mounted:
            mount = self._mounted.pop()
            if _run("umount", str(mount), check=False).returncode != 0:
                _run("umount", "--lazy", str(mount), check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- files -------------------------------------------------------------------------

    def path(self, inside: str) -> Path:
        """Where ``inside`` (an absolute path in the tree) is on the host."""
        return self.root / inside.lstrip("/")

    def write(self, inside: str, text: str) -> Path:
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def copy_in(self, source: Path, inside: str) -> Path:
        """A file or a folder of the host at ``inside``."""
        target = self.path(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)
        return target

    def shm_files(self) -> list[str]:
        """What is in the tree's /dev/shm now."""
        return sorted(path.name for path in self.shm.iterdir())

    # -- commands ------------------------------------------------------------------------

    def command(self, *argv: str, env: dict[str, str] | None = None) -> list[str]:
        """The host command line that runs ``argv`` inside the tree.

        ``--as-pid2``: a stub init is the tree's PID 1 and reaps orphans, so ``argv`` runs
        as an ordinary process, as a service does under systemd (a PID 1 ignores signals it
        has no handler for).  ``--register=no --keep-unit``: no machined, no system bus.
        """
        setenv = [f"--setenv={key}={value}" for key, value in (env or {}).items()]
        return [
            "systemd-nspawn", "-q", "--register=no", "--keep-unit", "--pipe", "--as-pid2",
            f"--directory={self.root}", f"--bind={self.shm}:/dev/shm", *setenv, "--", *argv,
        ]  # fmt: skip

    def run(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the tree to its end; the tree is killed if it outlasts ``timeout``."""
        process = subprocess.Popen(
            self.command(*argv, env=env),
            env=_nspawn_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            stdout, stderr = process.communicate()
            raise AssertionError(
                f"{argv!r} still ran after {timeout:.0f} s: {_quiet(stderr)[-2000:]}"
            ) from None
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, _quiet(stderr))
        if check and done.returncode != 0:
            raise AssertionError(
                f"{argv!r} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
            )
        return done

    def start(self, *argv: str, log: Path, env: dict[str, str] | None = None) -> LabProcess:
        """``argv`` inside the tree in the background, its output into ``log``."""
        with log.open("wb") as output:
            process = subprocess.Popen(
                self.command(*argv, env=env),
                env=_nspawn_env(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started = LabProcess(process, log)
        self._processes.append(started)
        return started


class LabProcess:
    """A command started in a CameraLab: ``pid`` (on the host), ``stop()``, ``output()``."""

    def __init__(self, nspawn: subprocess.Popen[bytes], log: Path) -> None:
        self._nspawn = nspawn
        self.log = log
        self._namespace: str | None = None  # the tree's PID namespace, once seen

    def poll(self) -> int | None:
        return self._nspawn.poll()

    def pid(self, timeout: float = 10.0) -> int:
        """The command's own pid on the host: the child of the tree's stub init."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._nspawn.poll() is None:
            if found := _tree_init(self._nspawn.pid):
                init, self._namespace = found
                for pid in _children(init):
                    return pid
            time.sleep(0.05)
        raise AssertionError(f"the command did not start: {self.output()[-2000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM to the command, as systemd stops a service; its exit status once it has
        exited, and with it every process in the tree (the stub init exits with the command,
        and the kernel kills what is left in its PID namespace).  Killed, with the whole
        tree, if it is still there after ``timeout``."""
        if self._nspawn.poll() is None:
            with contextlib.suppress(ProcessLookupError, AssertionError):
                os.kill(self.pid(), signal.SIGTERM)
            try:
                self._nspawn.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"still running {timeout:.0f} s after SIGTERM: {self.output()[-2000:]}"
                ) from None
        _wait_for_namespace_end(self._namespace)
        return self._nspawn.returncode

    def kill(self) -> None:
        """SIGKILL to everything in the tree.  Safe when it has already exited."""
        if found := _tree_init(self._nspawn.pid):
            self._namespace = found[1]
        _kill_tree(self._nspawn)
        _wait_for_namespace_end(self._namespace)

    def output(self) -> str:
        return _quiet(self.log.read_text(errors="replace"))


def _nspawn_env() -> dict[str, str]:
    """nspawn locks the tree it runs in; without the lock a lab runs commands beside the one
    it started (both see the same files and /dev/shm, as two processes on a machine do)."""
    return {**os.environ, "SYSTEMD_NSPAWN_LOCK": "0"}


def _kill_tree(nspawn: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGKILL the tree's PID 1 (the kernel then kills all of its PID namespace) and reap
    nspawn.  Killing nspawn alone would leave the tree's processes running."""
    if nspawn.poll() is not None:
        return
    if found := _tree_init(nspawn.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(found[0], signal.SIGKILL)
    try:
        nspawn.wait(10)
    except subprocess.TimeoutExpired:
        nspawn.kill()
        nspawn.wait(10)


def _children(pid: int) -> list[int]:
    """The live children of ``pid``, from /proc."""
    children = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(proc.name))
    return children


def _tree_init(nspawn: int) -> tuple[int, str] | None:
    """The tree's PID 1 (nspawn's child in a PID namespace of its own) and that namespace.
    While nspawn sets up, its child may still be a helper in the host's namespace: never
    take that one, whose namespace holds every process of the host."""
    for child in _children(nspawn):
        namespace = _pid_namespace(child)
        if namespace is not None and namespace != _HOST_NAMESPACE:
            return child, namespace
    return None


def _pid_namespace(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{pid}/ns/pid")
    return None


_HOST_NAMESPACE = _pid_namespace(os.getpid())


def _wait_for_namespace_end(namespace: str | None, timeout: float = 10.0) -> None:
    """Until no process is left in ``namespace``: once the tree's PID 1 is gone the kernel
    kills the rest, but their exit takes a moment (SIGKILL again meanwhile: harmless)."""
    if namespace is None or namespace == _HOST_NAMESPACE:
        return
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and _pid_namespace(int(proc.name)) == namespace:
                left.append(int(proc.name))
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {left} of the camera lab outlived it")
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _quiet(output: str) -> str:
    return "".join(
        line for line in output.splitlines(keepends=True) if not line.startswith(_NSPAWN_NOISE)
    )


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=check)

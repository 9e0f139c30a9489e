"""Fixtures of the deploy suite: an SSH key, wheelhouses (the release and a broken one)
and a way to print figures.  The rig they build on is tests/support/deploy.py."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.deploy import bin_path, broken_release, build_wheelhouse
from tests.support.paths import TEST_DATA
from tests.support.targets import RELEASES, missing_requirement


@pytest.fixture(scope="session")
def deploy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = missing_requirement()
    if reason is None and shutil.which("ansible-playbook", path=bin_path()) is None:
        reason = "ansible-playbook is not installed (pip install -e '.[deploy]')"
    if reason is None and not (TEST_DATA / "models").is_dir():
        reason = f"test data not found at {TEST_DATA} (set EDGEEYE_TEST_DATA)"
    if reason:
        pytest.skip(reason)
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="session")
def ssh_key(deploy_dir: Path) -> Path:
    key = deploy_dir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="session")
def wheelhouses(deploy_dir: Path) -> Callable[[str], Path]:
    """The release's wheelhouse for a Debian release (its Python), built once each."""
    built: dict[str, Path] = {}

    def wheelhouse(release: str) -> Path:
        if release not in built:
            built[release] = build_wheelhouse(
                deploy_dir / f"wheels-{release}", python=RELEASES[release]
            )
        return built[release]

    return wheelhouse


@pytest.fixture(scope="session")
def wheelhouse(wheelhouses: Callable[[str], Path]) -> Path:
    """Trixie's: Raspberry Pi OS as Imager offers it today."""
    return wheelhouses("trixie")


@pytest.fixture(scope="session")
def broken_wheelhouse(deploy_dir: Path) -> Path:
    """Release 0.1.1, whose workers crash before they load the model: it cannot start."""
    source = broken_release(deploy_dir / "broken-release")
    return build_wheelhouse(deploy_dir / "broken-wheels", source, python=RELEASES["trixie"])


@pytest.fixture
def note() -> Iterator[Callable[[str], None]]:
    """Print a figure so that it shows in the test log (pytest -s or the summary)."""
    lines: list[str] = []
    yield lines.append
    for line in lines:
        print(f"\n[deploy] {line}", end="")

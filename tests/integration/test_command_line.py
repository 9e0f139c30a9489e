"""``python -m edgeeye`` as a user runs it: the version and usage errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edgeeye import __version__
from edgeeye.tools.launcher import edgeeye_command


def test_version():
    completed = subprocess.run(edgeeye_command("--version"), capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.strip() == f"edgeeye {__version__}"


def test_usage_errors_exit_2():
    completed = subprocess.run(
        edgeeye_command("run", "--duration", "soon"),
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "invalid float value" in completed.stderr


def _install_spy_plugin(folder: Path) -> Path:
    """A real pydantic plugin, found the way pydantic finds plugins (a package's entry
    point), that leaves a file behind when it is loaded."""
    marker = folder / "loaded"
    info = folder / "spy_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    (folder / "spy_plugin.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('loaded')\n"
        "class Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = Plugin()\n"
    )
    return marker


def test_no_pydantic_plugin_hooks_into_the_config_unless_the_user_asks(tmp_path):
    """edgeeye uses no pydantic plugin; one installed beside it is not loaded (finding it
    reads every installed package's metadata on the way to the first result)."""
    marker = _install_spy_plugin(tmp_path)
    config = tmp_path / "edgeeye.yaml"
    config.write_text("device_id: porch\n")

    def check_config(plugins: dict[str, str]) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
        return subprocess.run(
            edgeeye_command("check-config", str(config)),
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(tmp_path), **plugins},
        )

    completed = check_config({})
    assert completed.returncode == 0 and "device_id: porch" in completed.stdout
    assert not marker.exists()

    completed = check_config({"PYDANTIC_DISABLE_PLUGINS": ""})
    assert completed.returncode == 0 and "device_id: porch" in completed.stdout
    assert marker.read_text() == "loaded"

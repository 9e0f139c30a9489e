"""``python -m edgeeye`` as a user runs it: the version and usage errors."""

from __future__ import annotations

import subprocess

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

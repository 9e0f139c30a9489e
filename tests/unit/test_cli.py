"""The command line: version, exit codes per error kind, model commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgeeye import __version__
from edgeeye.cli import exit_code_for, main
from edgeeye.errors import (
    BrokerRefused,
    ChildProcessFailed,
    ConfigError,
    DownloadError,
    EdgeeyeError,
    ModelError,
    ResourceError,
    SourceError,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ConfigError("x"), 2),
        (ModelError("x"), 3),
        (SourceError("x"), 4),
        (ResourceError("x"), 5),
        (DownloadError("x"), 6),
        (BrokerRefused("x"), 7),
        (ChildProcessFailed("x"), 1),
        (EdgeeyeError("x"), 1),
    ],
)
def test_each_error_kind_has_its_documented_exit_code(error, status):
    assert exit_code_for(error) == status


def test_version():
    completed = subprocess.run(
        [sys.executable, "-m", "edgeeye", "--version"], capture_output=True, text=True
    )
    assert completed.returncode == 0 and completed.stdout.strip() == f"edgeeye {__version__}"


def test_model_list_shows_where_models_are(monkeypatch, capsys, test_data, tmp_path):
    monkeypatch.setenv("EDGEEYE_MODEL_DIR", str(test_data / "models"))
    monkeypatch.setenv("EDGEEYE_MODEL_CACHE", str(tmp_path))
    assert main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{test_data}/models/mobilenet_v2_1.0_224_inat_bird_quant.tflite" in out


def test_model_pull_of_an_unknown_name_exits_3(capsys):
    assert main(["model", "pull", "resnet"]) == 3
    assert "edgeeye: error: model resnet: not in the manifest" in capsys.readouterr().err


def test_usage_errors_exit_2():
    completed = subprocess.run(
        [sys.executable, "-m", "edgeeye", "run", "--duration", "soon"],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "invalid float value" in completed.stderr

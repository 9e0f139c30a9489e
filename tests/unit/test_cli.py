"""The command line in-process: exit codes per error kind, model commands, the demo's and
the bench's options.  ``python -m edgeeye`` itself is tests/integration/test_command_line.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeeye.cli import build_parser, exit_code_for, main
from edgeeye.config.app import load_config
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
from edgeeye.tools.demo import demo_config, demo_environment


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


def test_model_list_shows_where_models_are(monkeypatch, capsys, test_data, tmp_path):
    monkeypatch.setenv("EDGEEYE_MODEL_DIR", str(test_data / "models"))
    monkeypatch.setenv("EDGEEYE_MODEL_CACHE", str(tmp_path))
    assert main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{test_data}/models/mobilenet_v2_1.0_224_inat_bird_quant.tflite" in out


def test_model_pull_of_an_unknown_name_exits_3(capsys):
    assert main(["model", "pull", "resnet"]) == 3
    assert "edgeeye: error: model resnet: not in the manifest" in capsys.readouterr().err


def test_demo_and_bench_take_the_folders_they_use_as_options():
    demo = build_parser().parse_args(["demo", "--images", "photos", "--model-dir", "models"])
    assert (demo.images, demo.model_dir) == (Path("photos"), Path("models"))
    plain = build_parser().parse_args(["demo"])
    assert plain.images is None and plain.model_dir is None
    bench = build_parser().parse_args(["bench", "--model-dir", "models"])
    assert bench.model_dir == Path("models")


def test_demo_config_classifies_the_given_photographs_else_synthetic_frames(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    with_photos = tmp_path / "with-photos.yaml"
    with_photos.write_text(demo_config(tmp_path, photos))
    config = load_config(with_photos)
    assert (config.source.type, config.source.path) == ("images", str(photos))
    assert config.device_id == "demo" and config.outbox.path == tmp_path / "outbox.sqlite3"
    plain = tmp_path / "plain.yaml"
    plain.write_text(demo_config(tmp_path))
    assert load_config(plain).source.type == "synthetic"


def test_demo_environment_names_the_model_folder_only_when_given(tmp_path):
    assert demo_environment(1883) == {"EDGEEYE_MQTT_PORT": "1883"}
    assert demo_environment(1883, tmp_path)["EDGEEYE_MODEL_DIR"] == str(tmp_path)


def test_bench_looks_a_model_name_up_in_the_model_dir_it_is_given(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EDGEEYE_MODEL_DIR", raising=False)
    monkeypatch.setenv("EDGEEYE_MODEL_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "models"
    empty.mkdir()
    status = main(["bench", "--model", "mobilenet_v1_0.25_128_quant", "--model-dir", str(empty)])
    assert status == 3
    assert f"not found in {empty}, {tmp_path / 'cache'}" in capsys.readouterr().err

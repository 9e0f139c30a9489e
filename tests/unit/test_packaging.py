"""What the wheel carries: every package folder, the default model and the demo's photographs."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from edgeeye.config.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict[str, object]:
    settings: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    return settings


def test_every_package_folder_is_listed_for_the_wheel():
    folders = {"edgeeye"} | {
        f"edgeeye.{init.parent.name}" for init in (ROOT / "edgeeye").glob("*/__init__.py")
    }
    data_only = {"edgeeye.models", "edgeeye.tools.photos"}
    assert set(_setuptools()["packages"]) == folders | data_only  # type: ignore[arg-type]
    assert _setuptools()["package-dir"] == {"edgeeye.models": "models"}


def test_models_holds_the_manifest_default_model_byte_for_byte():
    entry = load_manifest()["mobilenet_v2_1.0_224_quant"]
    for filename, sha256 in ((entry.filename, entry.sha256), (entry.labels, entry.labels_sha256)):
        data = (ROOT / "models" / filename).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256, filename
    assert (ROOT / "models" / "LICENSE").read_text().strip().startswith("Apache License")


def test_the_demo_photographs_ship_with_their_attribution():
    photos = ROOT / "edgeeye" / "tools" / "photos"
    assert sorted(p.name for p in photos.glob("*.jpg")) == [
        "cat_720p.jpg",
        "grace_hopper.jpg",
        "parrot.jpg",
    ]
    attribution = (photos / "COPYRIGHT").read_text()
    assert "CC BY 2.0" in attribution and "parrot.jpg" in attribution

"""The model manifest: the models edgeeye knows by name, with their sources and checksums.

Part of the config because a config may name a model (``model.name``) and must be checked
against this list, with the YAML line, before anything runs; ``inference.zoo`` finds and
downloads the files it lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    url: str
    sha256: str
    labels: str
    labels_url: str
    labels_sha256: str
    input_size: tuple[int, int]

    @property
    def filename(self) -> str:
        return f"{self.name}.tflite"


def load_manifest() -> dict[str, ModelEntry]:
    text = resources.files("edgeeye.config").joinpath("manifest.yaml").read_text(encoding="utf-8")
    entries = {}
    for item in yaml.safe_load(text):
        item["input_size"] = tuple(item["input_size"])
        entries[item["name"]] = ModelEntry(**item)
    return entries

"""The model manifest, look-up and checksum-verified downloads (from a loopback HTTP server)."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeeye.errors import DownloadError, ModelError
from edgeeye.inference import zoo

NAMES = {
    "mobilenet_v2_1.0_224_quant",
    "mobilenet_v1_0.25_128_quant",
    "mobilenet_v2_1.0_224_inat_bird_quant",
}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("EDGEEYE_MODEL_DIR", raising=False)
    monkeypatch.setenv("EDGEEYE_MODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class _Server:
    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                outer.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def manifest(self) -> dict[str, zoo.ModelEntry]:
        return {
            name: dataclasses.replace(
                entry,
                url=f"{self.url}/{entry.filename}",
                labels_url=f"{self.url}/{entry.labels}",
            )
            for name, entry in zoo.load_manifest().items()
        }


@pytest.fixture
def server(tmp_path, test_data) -> Iterator[_Server]:
    served = tmp_path / "served"
    served.mkdir()
    for name in ("mobilenet_v1_0.25_128_quant.tflite", "imagenet_labels.txt"):
        shutil.copy(test_data / "models" / name, served / name)
    running = _Server(served)
    yield running
    running.httpd.shutdown()


def test_manifest_lists_the_standard_models_with_checksums():
    manifest = zoo.load_manifest()
    assert set(manifest) == NAMES
    for entry in manifest.values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert re.fullmatch(r"[0-9a-f]{64}", entry.labels_sha256)
        assert entry.url.startswith("https://") and entry.url.endswith(entry.filename)
    assert manifest["mobilenet_v2_1.0_224_inat_bird_quant"].labels == "inat_bird_labels.txt"
    assert manifest["mobilenet_v1_0.25_128_quant"].input_size == (128, 128)


def test_the_model_dir_is_looked_up_before_the_cache(cache, monkeypatch, test_data):
    assert zoo.find_model("mobilenet_v1_0.25_128_quant") is None
    monkeypatch.setenv("EDGEEYE_MODEL_DIR", str(test_data / "models"))
    model, labels = zoo.find_model("mobilenet_v2_1.0_224_quant")
    assert model == test_data / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    assert labels.name == "imagenet_labels.txt"
    assert zoo.model_dirs() == [test_data / "models", cache, zoo.builtin_dir()]


def test_with_nothing_pulled_the_default_model_is_the_built_in_one(cache):
    builtin = zoo.builtin_dir()
    assert builtin is not None and builtin.name == "models"
    model, labels = zoo.find_model("mobilenet_v2_1.0_224_quant")
    assert (model, labels) == (
        builtin / "mobilenet_v2_1.0_224_quant.tflite",
        builtin / "imagenet_labels.txt",
    )
    listing = zoo.format_model_list(zoo.cached_models()).splitlines()
    assert re.match(r"mobilenet_v2_1\.0_224_quant +224x224 +built in +MobileNet v2", listing[1])
    assert "(not pulled)" in listing[2]


def test_pull_downloads_verifies_and_caches(cache, server):
    model, labels = zoo.pull("mobilenet_v1_0.25_128_quant", manifest=server.manifest())
    assert model == cache / "mobilenet_v1_0.25_128_quant.tflite"
    assert zoo.sha256_of(model) == zoo.load_manifest()["mobilenet_v1_0.25_128_quant"].sha256
    assert labels.read_text().splitlines()[0] == "background"
    assert len(server.requests) == 2
    # present with the right checksum: no second download
    assert zoo.pull("mobilenet_v1_0.25_128_quant", manifest=server.manifest()) == (model, labels)
    assert len(server.requests) == 2
    listed = dict((entry.name, path) for entry, path in zoo.cached_models())
    assert listed["mobilenet_v1_0.25_128_quant"] == model
    assert listed["mobilenet_v2_1.0_224_inat_bird_quant"] is None
    assert "(not pulled)" in zoo.format_model_list(zoo.cached_models())


def test_a_file_with_the_wrong_checksum_is_refused_and_not_kept(cache, server):
    served = Path(server.httpd.RequestHandlerClass.keywords["directory"])
    tampered = served / "mobilenet_v1_0.25_128_quant.tflite"
    data = bytearray(tampered.read_bytes())
    data[1000] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"checksum mismatch: expected sha256 cb273c23"):
        zoo.pull("mobilenet_v1_0.25_128_quant", manifest=server.manifest())
    assert list(cache.iterdir()) == []


def test_unreachable_and_unknown(cache):
    entry = zoo.load_manifest()["mobilenet_v1_0.25_128_quant"]
    broken = {entry.name: dataclasses.replace(entry, url="http://127.0.0.1:9/none.tflite")}
    with pytest.raises(DownloadError, match=r"http://127.0.0.1:9/none.tflite: download failed"):
        zoo.pull(entry.name, manifest=broken)
    assert list(cache.iterdir()) == []
    with pytest.raises(ModelError, match=r"model resnet: not in the manifest \(known: "):
        zoo.pull("resnet")

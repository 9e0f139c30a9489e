"""The real picamera2 and libcamera under edgeeye's unmodified picamera2 backend.

No Pi and no camera: libcamera's *virtual* camera (moving colour bars, NV12 only) in a Debian
Trixie tree built once by ``tests/deploy/make-camera-image`` (libcamera 0.7.1 from
trixie-backports, picamera2 0.3.38 from PyPI, and the test-side shims of
``tests/deploy/virtual_camera``), entered with systemd-nspawn by ``CameraLab``.

First picamera2 alone captures from it; then edgeeye, installed from its wheelhouse as the
playbook does, classifies its frames and publishes to a broker on the host.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from edgeeye.tools.local_broker import LocalBroker
from tests.support.camera_lab import PYTHON, CameraLab, missing_camera_lab
from tests.support.deploy import build_wheelhouse
from tests.support.mqtt import Messages, Subscriber
from tests.support.paths import TEST_DATA
from tests.support.schemas import assert_matches_schema

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MODEL = "mobilenet_v1_0.25_128_quant"
DEVICE = "camlab"
#: libcamera logs every dma-buf and Raw-role refusal at INFO and WARN; errors are enough.
LIBCAMERA_ENV = {"LIBCAMERA_LOG_LEVELS": "*:ERROR"}

# Run inside the tree with its Python 3.13 and apt's numpy.  faulthandler: a capture that
# never completes (what libcamera 0.4.0 does) fails with a traceback, not a test timeout.
CAPTURE = """\
import faulthandler, json
import numpy as np
from picamera2 import Picamera2

faulthandler.dump_traceback_later(60, exit=True)
camera = Picamera2(0)
camera.configure(camera.create_video_configuration(
    main={"size": (640, 480)}, lores={"size": (128, 128), "format": "YUV420"}))
camera.start()
frames, lores = [], None
for _ in range(10):
    request = camera.capture_request()
    frames.append(request.make_array("main"))  # a copy: the buffer goes back at once
    lores = request.make_array("lores")
    request.release()
camera.stop()
report = {
    "cameras": [info["Id"] for info in Picamera2.global_camera_info()],
    "allocator": type(camera.allocator).__name__,
    "main": [camera.camera_config["main"][key] for key in ("format", "size")],
    "lores": [camera.camera_config["lores"][key] for key in ("format", "size")],
    "main_shape": frames[0].shape,
    "lores_shape": lores.shape,
    "luma_std": float(frames[0][:480].std()),
    "changed": [bool((a != b).any()) for a, b in zip(frames, frames[1:])],
}
camera.close()
print(json.dumps(report))
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[CameraLab]:
    reason = missing_camera_lab(wheels=False)
    if reason:
        pytest.skip(reason)
    with CameraLab(tmp_path / "lab") as lab:
        yield lab


def test_picamera2_captures_from_the_virtual_camera(
    lab: CameraLab, note: Callable[[str], None]
) -> None:
    """picamera2 0.3.38 configures, starts and captures NV12 frames that move."""
    lab.write("/opt/smoke/capture.py", CAPTURE)
    started = time.monotonic()
    done = lab.run("python3", "/opt/smoke/capture.py", env=LIBCAMERA_ENV, timeout=120)
    note(f"picamera2: 10 frames from the virtual camera in {time.monotonic() - started:.1f} s")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["cameras"] == ["Virtual0"]
    assert report["allocator"] == "MemfdAllocator"  # no dma-heap on this kernel
    # Whatever is asked for, the virtual camera gives NV12: the Y plane, then half-height UV.
    assert report["main"] == ["NV12", [640, 480]]
    assert report["lores"] == ["NV12", [128, 128]]
    assert report["main_shape"] == [720, 640]
    assert report["lores_shape"] == [192, 128]
    assert report["luma_std"] > 10, "the frame is flat: not the colour bars"
    assert all(report["changed"]), f"successive frames are identical: {report['changed']}"


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as broker:
        yield broker


def test_edgeeye_classifies_virtual_camera_frames(
    lab: CameraLab, broker: LocalBroker, tmp_path: Path, note: Callable[[str], None]
) -> None:
    """``edgeeye run`` with ``source: picamera2``: results from camera frames reach the
    host's broker through the ring, and SIGTERM stops it cleanly."""
    reason = missing_camera_lab()
    if reason:
        pytest.skip(reason)
    models = TEST_DATA / "models"
    if not (models / f"{MODEL}.tflite").exists():
        pytest.skip(f"test data not found at {TEST_DATA} (set EDGEEYE_TEST_DATA)")
    started = time.monotonic()
    _install_edgeeye(lab, build_wheelhouse(tmp_path / "wheels", python=PYTHON))
    note(f"edgeeye built and installed in the camera tree in {time.monotonic() - started:.1f} s")
    for name in (f"{MODEL}.tflite", "imagenet_labels.txt"):
        lab.copy_in(models / name, f"/var/lib/edgeeye/models/{name}")
    lab.write("/etc/edgeeye/edgeeye.yaml", _config(broker.port))
    labels = set((models / "imagenet_labels.txt").read_text().splitlines())
    # check-config imports picamera2 the way the capture process will, with the venv's numpy.
    checked = lab.run(
        "/opt/edgeeye/bin/edgeeye", "check-config", "/etc/edgeeye/edgeeye.yaml", env=LIBCAMERA_ENV
    )
    assert "type: picamera2" in checked.stdout, checked.stdout

    subscriber = Subscriber(broker, f"edgeeye/{DEVICE}/#")
    try:
        edgeeye = lab.start(
            "/opt/edgeeye/bin/edgeeye", "run", "--config", "/etc/edgeeye/edgeeye.yaml",
            log=tmp_path / "edgeeye.log", env=LIBCAMERA_ENV,
        )  # fmt: skip
        started = time.monotonic()
        subscriber.collect(lambda r: _classified(r) >= 20 or edgeeye.poll() is not None, 120)
        running, seconds = edgeeye.poll() is None, time.monotonic() - started
        segments = [name for name in lab.shm_files() if name.startswith("edgeeye_")]
        returncode = edgeeye.stop()
        subscriber.drain(1.0)  # the last stats and the offline status
    finally:
        subscriber.close()
    log = edgeeye.output()
    assert running, f"edgeeye exited {returncode} before 20 results:\n{log[-4000:]}"

    results = subscriber.json_on("/result")
    assert len(results) >= 20, f"{len(results)} results:\n{log[-4000:]}"
    note(f"edgeeye: {len(results)} results {seconds:.1f} s after start")
    for message in subscriber.on("/result"):
        assert_matches_schema("result", bytes(message.payload))
    for result in results:
        assert result["device"] == DEVICE and result["model"] == MODEL
        assert result["labels"], result
        assert {label["label"] for label in result["labels"]} <= labels, result
    sequences = [result["sequence"] for result in results]
    # One worker classifies the frames in the order they were captured.
    assert sequences == sorted(set(sequences)), sequences

    # The frames came from the camera, through the ring: the backend configured the lores
    # stream at the model's input size in NV12 (all the virtual camera gives), the ring was
    # in /dev/shm, and the stats count frames captured, then classified, none unusable.
    # ("camera 0: lores 128x128 YUV420_BT709 from NV12 (stride 128, ...)")
    assert re.search(r"camera 0: lores 128x128 \S+ from NV12\b", log), log[-4000:]
    assert segments, "no frame ring in the tree's /dev/shm while edgeeye ran"
    assert_matches_schema("stats", bytes(subscriber.on("/stats")[-1].payload))
    final = subscriber.json_on("/stats")[-1]
    assert final["frames_classified"] >= len(results), final
    assert final["frames_captured"] >= final["frames_classified"], final
    assert final["fault"] is None and final["frames_skipped"] == 0, final
    assert final["ring_slots_free"] == final["ring_slots"], final

    assert returncode == 0, log[-4000:]
    assert subscriber.on("/status")[-1].payload == b"offline"
    # The ring (and every other segment) went with the appliance.
    assert not [name for name in lab.shm_files() if name.startswith("edgeeye_")], lab.shm_files()


def _install_edgeeye(lab: CameraLab, wheelhouse: Path) -> None:
    """As the playbook installs it: a venv that sees the system's packages (picamera2,
    libcamera, apt's numpy), edgeeye's wheel, then its requirements, all from the wheelhouse."""
    lab.copy_in(wheelhouse, "/opt/edgeeye-wheels")
    pip = "/opt/edgeeye/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check"
    lab.run("sh", "-euc", textwrap.dedent(f"""\
        python3 -m venv --system-site-packages /opt/edgeeye
        {pip} --no-deps /opt/edgeeye-wheels/edgeeye-*.whl
        {pip} --find-links /opt/edgeeye-wheels -r /opt/edgeeye-wheels/requirements.txt
    """))  # fmt: skip
    found = lab.run(
        "/opt/edgeeye/bin/python", "-c",
        "import json, numpy, picamera2; print(json.dumps([numpy.__file__, picamera2.__file__]))",
    )  # fmt: skip
    numpy, picamera2 = json.loads(found.stdout)
    assert numpy.startswith("/usr/lib/python3/dist-packages/"), numpy  # apt's, not a wheel
    assert picamera2.startswith("/usr/local/lib/python3.13/dist-packages/"), picamera2


def _config(port: int) -> str:
    return yaml.safe_dump(
        {
            "device_id": DEVICE,
            "source": {"type": "picamera2", "main_size": [640, 480]},
            "model": {
                "path": f"/var/lib/edgeeye/models/{MODEL}.tflite",
                "labels": "/var/lib/edgeeye/models/imagenet_labels.txt",
            },
            # One worker: the results then come in capture order (and the 2-CPU CI keeps a
            # core for the capture process, which the unpaced virtual camera keeps busy).
            "workers": 1,
            "mqtt": {"host": "127.0.0.1", "port": port, "stats_interval": 1.0},
            "outbox": {"path": "/var/lib/edgeeye/outbox.sqlite3"},
            "homeassistant": {"discovery": False},
        }
    )


def _classified(received: Messages) -> int:
    return sum(message.topic.endswith("/result") for message in received)

"""Config files for the appliance under test, on the real models and photographs."""

from __future__ import annotations

from pathlib import Path


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def device_config(
    folder: Path,
    port: int,
    test_data: Path,
    *,
    model: str,
    source: str,
    workers: int = 2,
    mqtt: str = "",
    extra: str = "",
    labels: str = "imagenet_labels",
    model_entries: str = "",
) -> Path:
    """``folder/edgeeye.yaml`` for device cam1 on ``model`` (a file in the test data, or
    an absolute path without ``.tflite``) with ``labels``; ``mqtt`` is flow-mapping entries
    added to that section, ``model_entries`` block lines added to the model section,
    ``extra`` more top-level YAML."""
    model_path = model if model.startswith("/") else f"{test_data}/models/{model}"
    mqtt_entries = f"host: 127.0.0.1, port: {port}" + (f", {mqtt}" if mqtt else "")
    return write_config(
        folder / "edgeeye.yaml",
        f"""
device_id: cam1
source: {source}
model:
  path: {model_path}.tflite
  labels: {test_data}/models/{labels}.txt
{model_entries}
workers: {workers}
mqtt: {{{mqtt_entries}}}
{extra}
""",
    )


def small_model_config(
    folder: Path,
    port: int,
    test_data: Path,
    *,
    source: str = "{type: synthetic, fps: 30}",
    workers: int = 2,
    mqtt: str = "",
    supervisor: str = "",
) -> Path:
    """Device cam1 on the small model (1 ms a frame), so fault tests spend their time on
    the fault.  ``mqtt`` and ``supervisor`` are flow-mapping entries ("stats_interval: 1,
    qos: 1") added to those sections."""
    return device_config(
        folder,
        port,
        test_data,
        model="mobilenet_v1_0.25_128_quant",
        source=source,
        workers=workers,
        mqtt=mqtt,
        extra=f"supervisor: {{{supervisor}}}",
    )


def photo_sequence(folder: Path, test_data: Path, names: list[str]) -> Path:
    """``folder`` holding the photographs ``names`` in that order (numbered symlinks into
    the test data), for an images source to read as a scripted scene."""
    folder.mkdir(parents=True, exist_ok=True)
    for position, name in enumerate(names):
        (folder / f"{position:03d}_{name}").symlink_to(test_data / "images" / name)
    return folder


def photo_config(
    folder: Path,
    port: int,
    test_data: Path,
    source: str,
    extra: str = "",
    *,
    workers: int = 2,
    mqtt: str = "",
) -> Path:
    """Device cam1 classifying with mobilenet_v2_1.0_224_quant (the model ``EXPECTED_TOP1``
    is for), stats every second, discovery off; ``extra`` is more top-level YAML, ``mqtt``
    flow-mapping entries added to that section."""
    return device_config(
        folder,
        port,
        test_data,
        model="mobilenet_v2_1.0_224_quant",
        source=source,
        workers=workers,
        mqtt="stats_interval: 1" + (f", {mqtt}" if mqtt else ""),
        extra=f"homeassistant: {{discovery: false}}\n{extra}",
    )


def detector_config(
    folder: Path,
    port: int,
    test_data: Path,
    source: str,
    extra: str = "",
    *,
    model: str = "ssd_mobilenet_v1_coco_quant",
    model_entries: str = "",
    workers: int = 2,
) -> Path:
    """Device cam1 detecting with the SSD detector and the COCO labels (or ``model``, a
    copy of it made in the test), stats every second, discovery off."""
    return device_config(
        folder,
        port,
        test_data,
        model=model,
        labels="coco_labels",
        model_entries=model_entries,
        source=source,
        workers=workers,
        mqtt="stats_interval: 1",
        extra=f"homeassistant: {{discovery: false}}\n{extra}",
    )

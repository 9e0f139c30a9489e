"""Config edits applied while running (SIGHUP): read and check the file, then decide what
each change touches.

``prepare`` is the whole check (YAML, keys, values, the model and labels files, the
model itself), shared by ``edgeeye run``, ``edgeeye check-config`` and a reload, so all
three give the same verdict.  ``plan`` compares the running config with the new one and
names the parts to restart; everything else (the ring, the counters, the children a
change does not touch) keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from edgeeye.config.app import AppConfig, load_config
from edgeeye.config.files import check_broker_files
from edgeeye.config.scene import CascadeModelConfig
from edgeeye.config.sections import ModelConfig
from edgeeye.errors import ConfigError, ModelError
from edgeeye.inference import zoo
from edgeeye.inference.model import ModelSpec, inspect_model
from edgeeye.inference.results import Task
from edgeeye.sources.configured import make_source


def resolve_model_files(model: ModelConfig | CascadeModelConfig) -> tuple[Path, Path | None]:
    """The model and labels files a config section names, directly or through the manifest.

    A model file without ``labels`` gives None: the labels packed in the model are used
    (``inspect_model`` refuses a model that has none)."""
    if model.path is not None:
        return model.path, model.labels
    name = model.name or ""
    found = zoo.find_model(name)
    if found is None:
        where = ", ".join(str(d) for d in zoo.model_dirs())
        raise ModelError(
            f"model {name}: not found in {where}; run 'edgeeye model pull {name}'"
            " or set model.path and model.labels"
        )
    return found


def prepare(path: str | Path | None) -> tuple[AppConfig, ModelSpec]:
    """The validated config and the inspected model it names; raises one-line errors."""
    config = load_config(path)
    check_broker_files(config.mqtt)
    model_path, labels_path = resolve_model_files(config.model)
    model = inspect_model(model_path, labels_path, config.model.threads, config.model.task)
    cascade = config.classify_detections
    if cascade is not None:
        if model.task is not Task.DETECT:
            raise ConfigError(
                f"{path or '<built-in defaults>'}: classify_detections: needs a detector;"
                f" model {model.path} is a classifier"
            )
        second_path, second_labels = resolve_model_files(cascade.model)
        second = inspect_model(second_path, second_labels, cascade.model.threads, "classify")
        model = replace(model, box_classifier=second)
    return config, model


@dataclass(frozen=True)
class ReloadPlan:
    """What a valid edit touches; all False means nothing to restart."""

    ring: bool = False  # slot count or size: everything restarts around a new ring
    publisher: bool = False  # broker, topics, outbox: a new MQTT client
    workers: bool = False  # model or its settings, worker count: rolling replacement
    capture: bool = False  # the source, or the model size a camera's lores stream follows
    frame_bytes: int = 0  # the largest frame the new source writes (sizes a new ring)

    def parts(self) -> list[str]:
        """The names of the parts to restart, in the order they are restarted."""
        touched = (
            ("ring", self.ring),
            ("publisher", self.publisher),
            ("workers", self.workers),
            ("capture", self.capture),
        )
        return [name for name, restart in touched if restart]


def plan(
    old: AppConfig, new: AppConfig, old_model: ModelSpec, new_model: ModelSpec, slot_bytes: int
) -> ReloadPlan:
    """Which parts ``new`` needs restarted, given the ring's current ``slot_bytes``."""
    new_size = new.capture_size(new_model.input_size)
    needed_bytes = make_source(new.source, new_size).max_frame_bytes()
    return ReloadPlan(
        frame_bytes=needed_bytes,
        ring=new.slot_count != old.slot_count or needed_bytes > slot_bytes,
        publisher=(new.mqtt, new.device_id, new.outbox, new.homeassistant, new.remote_control)
        != (old.mqtt, old.device_id, old.outbox, old.homeassistant, old.remote_control),
        # min_score is applied by the publisher, live, like the publish and snapshot settings.
        workers=(_worker_side(new), new.worker_count, new_model)
        != (_worker_side(old), old.worker_count, old_model),
        # A camera's lores stream is set to the model's size (or, with crops, the main
        # stream's); other sources do not care.
        capture=new.source != old.source
        or (new.source.type == "picamera2" and new_size != old.capture_size(old_model.input_size)),
    )


def _worker_side(config: AppConfig) -> tuple[object, ...]:
    """What workers are started with, but for what the publisher applies live."""
    model = config.model.model_copy(update={"min_score": 0.0, "min_score_per_label": {}})
    return (model, config.regions, config.classify_detections)

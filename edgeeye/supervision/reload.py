"""Config edits applied while running (SIGHUP): read and check the file, then decide what
each change touches.

``prepare`` is the whole check (YAML, keys, values, the model and labels files, the
model itself), shared by ``edgeeye run``, ``edgeeye check-config`` and a reload, so all
three give the same verdict.  ``plan`` compares the running config with the new one and
names the parts to restart; everything else (the ring, the counters, the children a
change does not touch) keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeeye.config.app import AppConfig, load_config
from edgeeye.config.files import check_broker_files
from edgeeye.config.sections import ModelConfig
from edgeeye.errors import ModelError
from edgeeye.inference import zoo
from edgeeye.inference.model import ModelSpec, inspect_model
from edgeeye.sources import make_source


def resolve_model_files(config: AppConfig) -> tuple[Path, Path | None]:
    """The model and labels files a config names, directly or through the manifest.

    A model file without ``model.labels`` gives None: the labels packed in the model are
    used (``inspect_model`` refuses a model that has none)."""
    if config.model.path is not None:
        return config.model.path, config.model.labels
    name = config.model.name or ""
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
    model_path, labels_path = resolve_model_files(config)
    return config, inspect_model(model_path, labels_path, config.model.threads, config.model.task)


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
    needed_bytes = make_source(new.source, new_model.input_size).max_frame_bytes()
    return ReloadPlan(
        frame_bytes=needed_bytes,
        ring=new.slot_count != old.slot_count or needed_bytes > slot_bytes,
        publisher=(new.mqtt, new.device_id, new.outbox, new.homeassistant, new.remote_control)
        != (old.mqtt, old.device_id, old.outbox, old.homeassistant, old.remote_control),
        # min_score is applied by the publisher, live, like the publish and snapshot settings.
        workers=(_worker_side(new.model), new.worker_count, new_model)
        != (_worker_side(old.model), old.worker_count, old_model),
        # A camera's lores stream is set to the model's size; other sources do not care.
        capture=new.source != old.source
        or (new.source.type == "picamera2" and new_model.input_size != old_model.input_size),
    )


def _worker_side(model: ModelConfig) -> ModelConfig:
    return model.model_copy(update={"min_score": 0.0, "min_score_per_label": {}})

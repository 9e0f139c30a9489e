"""What the camera looks at: named regions of the frame, presence per label, and the
second model that classifies a detector's boxes (``classify_detections``).

Region names and presence ids become MQTT topic levels and Home Assistant entity ids, so
they are held to what both accept unchanged: lower-case letters, digits and ``_``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from edgeeye.config.sections import Frozen, LabelName, Score
from edgeeye.config.topic_names import SCENE_NAME, slug

#: A region's name, and a presence entry's id: a topic level and an entity id as they are.
SceneName = Annotated[str, StringConstraints(pattern=rf"^{SCENE_NAME.pattern}$")]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


def _ordered(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x_min, y_min, x_max, y_max = box
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(
            "must be [x_min, y_min, x_max, y_max] with x_min < x_max and y_min < y_max"
        )
    return box


class RegionConfig(Frozen):
    """A part of the frame: ``box`` is ``[x_min, y_min, x_max, y_max]`` in fractions of
    the frame as captured (0, 0 is the top left)."""

    box: Annotated[tuple[Fraction, Fraction, Fraction, Fraction], AfterValidator(_ordered)]


class PresenceConfig(Frozen):
    """A label (in a region, if given) that is present or not: on after ``frames``
    results in a row with it at ``min_score`` or more, off once ``off_s`` pass without it."""

    label: LabelName
    region: SceneName | None = None
    #: Unset: the label's publish floor (model.min_score_per_label, else model.min_score).
    min_score: Score | None = None
    frames: int = Field(3, ge=1, le=1000)
    off_s: float = Field(10.0, ge=0.1, le=86400)
    #: Its topic level and entity id; unset: ``<region>_<label>`` or ``<label>``, with
    #: anything but a-z and 0-9 as ``_``.
    id: SceneName | None = None

    @property
    def key(self) -> str:
        if self.id is not None:
            return self.id
        return slug(f"{self.region}_{self.label}" if self.region else self.label)


class CascadeModelConfig(Frozen):
    """The second model: ``name`` from the manifest, or ``path`` (and ``labels``)."""

    name: str | None = None
    path: Path | None = None
    labels: Path | None = None
    threads: int = Field(1, ge=1, le=16)


class ClassifyDetectionsConfig(Frozen):
    """Each detection of ``labels`` is cropped from the full frame and classified by
    ``model``; its top label at ``min_score`` or more becomes the detection's sub-label."""

    labels: tuple[LabelName, ...] = Field(min_length=1, max_length=100)
    model: CascadeModelConfig
    min_score: Score = 0.0
    #: At most this many boxes per frame are classified, best first: each costs an invoke.
    max_boxes: int = Field(5, ge=1, le=100)

    @model_validator(mode="after")
    def _model_named(self) -> ClassifyDetectionsConfig:
        if self.model.name is None and self.model.path is None:
            raise ValueError("model: set model.name or model.path")
        return self

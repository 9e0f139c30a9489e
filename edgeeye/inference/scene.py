"""What a worker does with one frame beyond running its model on all of it: a classifier
on each configured region's crop, a detector's boxes placed in regions, and the boxes
``classify_detections`` names classified by a second model.

Crops come from the frame in shared memory, at the size it was captured, so a small
region or a distant bird is seen at the camera's resolution, not the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from edgeeye.inference.classifier import Classifier
from edgeeye.inference.model import ModelSpec
from edgeeye.inference.preprocess import crop_to_model_rgb, to_model_rgb
from edgeeye.inference.results import Box, Detection, Inference, RegionLabels, Task, merged
from edgeeye.inference.runner import FrameModel, open_model
from edgeeye.sources.frame import PixelFormat

if TYPE_CHECKING:
    # The main process builds a SceneSpec from the config; the worker that runs it has
    # no use for the config's models (nor pydantic).
    from edgeeye.config.app import AppConfig


@dataclass(frozen=True)
class Region:
    name: str
    box: Box


@dataclass(frozen=True)
class BoxClassification:
    """``classify_detections``, resolved for a worker."""

    model: ModelSpec
    labels: frozenset[str]
    #: The score a detection needs to be classified: its label's publish floor.
    floors: dict[str, float]
    default_floor: float
    min_score: float
    max_boxes: int


@dataclass(frozen=True)
class SceneSpec:
    regions: tuple[Region, ...] = ()
    boxes: BoxClassification | None = None

    @classmethod
    def from_config(cls, config: AppConfig, model: ModelSpec) -> SceneSpec:
        regions = tuple(Region(name, r.box) for name, r in config.regions.items())
        cascade = config.classify_detections
        boxes = None
        if cascade is not None and model.box_classifier is not None:
            boxes = BoxClassification(
                model=model.box_classifier,
                labels=frozenset(cascade.labels),
                floors=dict(config.model.min_score_per_label),
                default_floor=config.model.min_score_for("detect"),
                min_score=cascade.min_score,
                max_boxes=cascade.max_boxes,
            )
        return cls(regions, boxes)


@dataclass(frozen=True)
class FrameView:
    """A frame in shared memory, as ``pipeline.frames.frame_view`` gives it."""

    pixels: np.ndarray
    pixel_format: PixelFormat
    height: int
    width: int


@dataclass
class Prepared:
    """A frame's model inputs, in memory of their own: the slot may go back after this."""

    whole: np.ndarray | None  # the whole frame at the model's size
    crops: list[np.ndarray] = field(default_factory=list)  # one per region (classifier)


def stands_in(box: Box, regions: tuple[Region, ...]) -> tuple[str, ...]:
    """The regions holding the bottom centre of ``box``: where an object stands."""
    x, y = (box[0] + box[2]) / 2, box[3]
    return tuple(r.name for r in regions if r.box[0] <= x <= r.box[2] and r.box[1] <= y <= r.box[3])


class SceneRunner:
    """A worker's models and what it does with each frame; one per worker process."""

    def __init__(self, spec: ModelSpec, scene: SceneSpec) -> None:
        self.spec = spec
        self.scene = scene
        self._model: FrameModel = open_model(spec)
        self._boxes = None if scene.boxes is None else Classifier(scene.boxes.model)
        self._regions_cropped = spec.task is Task.CLASSIFY and bool(scene.regions)

    @property
    def needs_frame_after_invoke(self) -> bool:
        """Whether ``infer`` crops from the frame (boxes to classify): the slot is kept."""
        return self._boxes is not None

    def prepare(self, view: FrameView, whole_wanted: bool) -> Prepared:
        """The model inputs; the whole frame only if it is run or ``whole_wanted``
        (a snapshot), when regions are classified instead."""
        size = self.spec.input_size
        whole = None
        if not self._regions_cropped or whole_wanted:
            whole = to_model_rgb(view.pixels, view.pixel_format, view.height, view.width, size)
        crops = []
        if self._regions_cropped:
            for region in self.scene.regions:
                crops.append(
                    crop_to_model_rgb(
                        view.pixels, view.pixel_format, view.height, view.width, region.box, size
                    )
                )
        return Prepared(whole, crops)

    def infer(self, prepared: Prepared, top_k: int, view: FrameView | None) -> Inference:
        """Run the model (on each region, for a classifier with regions); then place and
        classify the boxes, from ``view`` (which ``needs_frame_after_invoke`` keeps)."""
        if self._regions_cropped:
            per_region = [self._model.infer(crop, top_k) for crop in prepared.crops]
            regions = tuple(
                RegionLabels(region.name, result.labels)
                for region, result in zip(self.scene.regions, per_region, strict=True)
            )
            spent = sum(result.inference_ms for result in per_region)
            return Inference(merged([r.labels for r in regions])[:top_k], (), spent, regions)
        assert prepared.whole is not None
        inference = self._model.infer(prepared.whole, top_k)
        if not inference.detections:
            return inference
        detections = inference.detections
        if self.scene.regions:
            detections = tuple(
                replace(d, regions=stands_in(d.box, self.scene.regions)) for d in detections
            )
        spent = inference.inference_ms
        if self._boxes is not None and view is not None:
            detections, box_ms = self._classify_boxes(detections, view)
            spent += box_ms
        return replace(inference, detections=detections, inference_ms=spent)

    def _classify_boxes(
        self, detections: tuple[Detection, ...], view: FrameView
    ) -> tuple[tuple[Detection, ...], float]:
        assert self._boxes is not None and self.scene.boxes is not None
        wanted = self.scene.boxes
        size = wanted.model.input_size
        out, spent, done = [], 0.0, 0
        for found in detections:  # best first
            floor = wanted.floors.get(found.label, wanted.default_floor)
            if found.label in wanted.labels and found.score >= floor and done < wanted.max_boxes:
                crop = crop_to_model_rgb(
                    view.pixels, view.pixel_format, view.height, view.width, found.box, size
                )
                top, box_ms = self._boxes.classify(crop, 1, wanted.min_score)
                spent += box_ms
                done += 1
                if top:
                    found = replace(found, sub_label=top[0])
            out.append(found)
        return tuple(out), spent

"""What a result says once the publish filters have had their say: the labels, a
detector's detections, and each region's labels, all under the same floors.

``model.min_score`` (or the label's own ``model.min_score_per_label``) and
``publish.include``/``exclude`` decide what is kept; the publish policy, the result
document and the snapshot all read the same ``Seen``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeeye.inference.results import Detection, Label, RegionLabels, Task, labels_of
from edgeeye.pipeline.messages import Result
from edgeeye.publish.policy_settings import LiveSettings


@dataclass(frozen=True, slots=True)
class Seen:
    labels: list[Label]
    detections: tuple[Detection, ...]
    #: One per configured region, in the config's order; none without regions.
    regions: tuple[RegionLabels, ...]


def what_is_seen(result: Result, settings: LiveSettings) -> Seen:
    keeps = settings.keeps
    if result.task is Task.DETECT:
        detections = tuple(d for d in result.detections if keeps(d.label, d.score))
        regions = tuple(
            RegionLabels(name, labels_of([d for d in detections if name in d.regions]))
            for name in settings.region_names
        )
        return Seen(labels_of(detections), detections, regions)
    labels = [label for label in result.labels if keeps(label[1], label[2])]
    regions = tuple(
        RegionLabels(r.name, [label for label in r.labels if keeps(label[1], label[2])])
        for r in result.regions
    )
    return Seen(labels, (), regions)

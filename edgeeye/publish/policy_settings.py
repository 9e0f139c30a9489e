"""The settings the publisher applies to each result, which a reload or a remote command
may change while running."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from edgeeye.config.app import AppConfig
from edgeeye.config.sections import PublishConfig
from edgeeye.inference.results import Task


@dataclass(frozen=True)
class LiveSettings:
    """The settings the publisher applies per result, changeable while running."""

    min_score: float
    publish: PublishConfig
    snapshot_enabled: bool
    #: ``model.min_score_per_label``: these labels' own floor instead of ``min_score``.
    min_score_per_label: Mapping[str, float] = field(default_factory=dict)
    #: The configured regions, in order (a config's; no command changes them).
    region_names: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: AppConfig, task: Task = Task.CLASSIFY) -> LiveSettings:
        """The settings a config file gives (what a start or a reload begins with)."""
        return cls(
            min_score=config.model.min_score_for(task.value),
            publish=config.publish,
            snapshot_enabled=config.snapshot.enabled,
            min_score_per_label=config.model.min_score_per_label,
            region_names=tuple(config.regions),
        )

    def floor(self, label: str) -> float:
        """The score ``label`` needs: its own, else ``min_score``."""
        return self.min_score_per_label.get(label, self.min_score)

    def keeps(self, label: str, score: float) -> bool:
        """Whether a label at this score is published: its floor, and the label filters."""
        publish = self.publish
        return (
            score >= self.floor(label)
            and (not publish.include or label in publish.include)
            and label not in publish.exclude
        )

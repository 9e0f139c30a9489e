"""How a run ended, for the CLI: a reason from a closed set, and the last counts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from edgeeye.publish.stats import PipelineCounts


class RunEnd(enum.Enum):
    """Why the supervisor's loop stopped."""

    SIGNAL = "signal"  # SIGINT or SIGTERM
    DURATION = "duration"  # --duration elapsed
    SOURCE_FINISHED = "source finished"  # a finite source delivered its last frame
    FAILURE = "failure"  # a fault the supervisor could not fix; the run raises it


@dataclass(frozen=True)
class RunOutcome:
    end: RunEnd
    frames_captured: int = 0
    results_published: int = 0
    stats: PipelineCounts = field(default_factory=PipelineCounts)

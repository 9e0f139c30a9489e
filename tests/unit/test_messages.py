"""The messages on a worker's results pipe survive pickling whole."""

from __future__ import annotations

import pickle

from edgeeye.inference.results import Detection, RegionLabels, Task
from edgeeye.pipeline.messages import Result


def test_a_result_comes_out_of_the_pipe_equal_in_every_field():
    detection = Detection(17, "cat", 0.75, (0.1, 0.2, 0.5, 0.6), ("door",), (3, "tabby", 0.5))
    result = Result(
        sequence=12,
        capture_ts_ns=123_456_789_012,
        tag=1,
        labels=[(17, "cat", 0.75)],
        inference_ms=8.5,
        worker_id=2,
        frame_stamp=12,
        task=Task.DETECT,
        detections=(detection,),
        regions=(RegionLabels("door", [(17, "cat", 0.75)]),),
    )
    copy = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == result and copy is not result
    assert copy.task is Task.DETECT and copy.detections[0].sub_label == (3, "tabby", 0.5)

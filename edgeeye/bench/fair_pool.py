"""The fair baseline: the script people write instead of edgeeye, publishing every result.

One process: a capture thread, a bounded ``queue.Queue``, one interpreter per core on a
thread of its own (LiteRT releases the GIL while it invokes), and one paho-mqtt client
(``loop_start``) that every inference thread publishes its JSON result on at QoS 1, to the
same broker and topic edgeeye uses, so the same subscriber counts both.  Run by the bench
as ``python -m edgeeye.bench.fair_pool``; it stops by itself after ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeeye.bench.common import synthetic_frames
from edgeeye.inference.model import inspect_model
from edgeeye.inference.preprocess import to_model_rgb
from edgeeye.inference.runner import FrameModel, open_model
from edgeeye.sources.frame import PixelFormat

#: A frame as the capture thread hands it out: its number, when it was made, its pixels.
_Captured = tuple[int, float, np.ndarray]


def _capture(
    frames: list[np.ndarray], fps: float, out: queue.Queue[_Captured], stop: threading.Event
) -> None:
    period = 1.0 / fps
    due = time.monotonic()
    sequence = 0
    while not stop.is_set():
        due += period
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            due = time.monotonic()  # behind: the queue was full; offer the next one now
        frame = frames[sequence % len(frames)].copy()  # a camera read gives a fresh buffer
        while not stop.is_set():
            try:
                out.put((sequence, time.time(), frame), timeout=0.1)
                break
            except queue.Full:
                continue
        sequence += 1


def _infer_and_publish(
    model: FrameModel,
    size: tuple[int, int],
    frames: queue.Queue[_Captured],
    client: mqtt.Client,
    topic: str,
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        try:
            sequence, created, frame = frames.get(timeout=0.1)
        except queue.Empty:
            continue
        started = time.perf_counter()
        rgb = to_model_rgb(frame, PixelFormat.RGB888, frame.shape[0], frame.shape[1], size)
        inference = model.infer(rgb, 3)
        payload = {
            "device_id": "pool",
            "sequence": sequence,
            "captured_at": datetime.fromtimestamp(created, tz=UTC).isoformat(),
            "labels": [
                {"index": index, "label": name, "score": round(score, 4)}
                for index, name, score in inference.labels
            ],
            "inference_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        client.publish(topic, json.dumps(payload), qos=1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m edgeeye.bench.fair_pool")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()

    spec = replace(inspect_model(args.model, args.labels), threads=1)
    frames = synthetic_frames(args.width, args.height)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.connect(args.host, args.port)
    client.loop_start()
    frame_queue: queue.Queue[_Captured] = queue.Queue(maxsize=2 * args.workers)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_infer_and_publish,
            args=(open_model(spec), spec.input_size, frame_queue, client, args.topic, stop),
        )
        for _ in range(args.workers)
    ]
    threads.append(threading.Thread(target=_capture, args=(frames, args.fps, frame_queue, stop)))
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(5)
    time.sleep(0.5)  # the last acknowledgements
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main()

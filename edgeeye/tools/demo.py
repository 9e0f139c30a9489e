"""``edgeeye demo``: a private broker, the real pipeline for a few seconds, results shown live.

Uses the built-in defaults, except that when the test data folder (``../shared`` beside the
project, or ``$EDGEEYE_TEST_DATA``) is present its models are used and its photographs are
the source, so the labels shown mean something.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edgeeye.tools.local_broker import LocalBroker

_PROJECT = Path(__file__).resolve().parent.parent


def find_test_data() -> Path | None:
    candidates = [os.environ.get("EDGEEYE_TEST_DATA"), _PROJECT.parent / "shared", "../shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "models").is_dir():
            return Path(candidate).resolve()
    return None


def run_demo(seconds: float = 10.0) -> int:
    data = find_test_data()
    env = dict(os.environ)
    config_text = "device_id: demo\n"
    if data is not None:
        env.setdefault("EDGEEYE_MODEL_DIR", str(data / "models"))
        config_text += (
            f"source: {{type: images, path: {json.dumps(str(data / 'images'))}, fps: 10}}\n"
        )
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "demo.yaml"
        # A private outbox too: results spooled for this throwaway broker must not reach
        # a real one at the next `edgeeye run`.
        outbox = json.dumps(str(Path(tmp) / "outbox.sqlite3"))
        config.write_text(
            config_text + f"mqtt: {{stats_interval: 2}}\noutbox: {{path: {outbox}}}\n"
        )
        env["EDGEEYE_MQTT_PORT"] = str(broker.port)
        messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, *_: c.subscribe("edgeeye/#", qos=1)
        client.on_message = lambda _c, _u, message: messages.put(message)
        client.connect(broker.host, broker.port)
        client.loop_start()
        print(f"demo: mosquitto on 127.0.0.1:{broker.port}; subscribed to edgeeye/#")
        print(f"demo: running 'edgeeye run' for {seconds:.0f} s on {config_text.strip()!r}")
        appliance = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgeeye",
                "run",
                "--config",
                str(config),
                "--duration",
                str(seconds),
            ],
            env=env,
        )
        try:
            while appliance.poll() is None:
                _show_pending(messages)
            time.sleep(0.5)
            _show_pending(messages)
        finally:
            if appliance.poll() is None:
                appliance.terminate()
                appliance.wait(15)
            client.loop_stop()
            client.disconnect()
    return appliance.returncode


def _show_pending(messages: queue.Queue[mqtt.MQTTMessage]) -> None:
    try:
        message = messages.get(timeout=0.2)
    except queue.Empty:
        return
    if message.topic.endswith("/result"):
        result = json.loads(message.payload)
        top = result["labels"][0] if result["labels"] else {"label": "-", "score": 0}
        print(
            f"  #{result['sequence']:<5} {result.get('source', ''):<18} -> {top['label'][:30]:<30}"
            f" {top['score']:.2f}  worker {result['worker']}  latency {result['latency_ms']:.1f} ms"
        )
    elif message.topic.endswith("/stats"):
        stats = json.loads(message.payload)
        print(
            f"  stats: captured {stats['frames_captured']} classified"
            f" {stats['frames_classified']} dropped {stats['frames_dropped']} published"
            f" {stats['results_published']} p99 {stats['latency_ms']['p99']} ms"
        )
    else:
        print(f"  {message.topic}: {message.payload.decode(errors='replace')}")

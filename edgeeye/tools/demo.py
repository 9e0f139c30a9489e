"""``edgeeye demo``: a private broker, the real pipeline for a few seconds, results shown live.

Uses the built-in defaults (the default model, found in ``$EDGEEYE_MODEL_DIR``, the cache
or, on a fresh machine, the copy shipped in the package) and classifies the photographs
shipped with it (``photos/``), so a first run offline shows real labels.  The options
change that: ``images``, a folder of photographs of your own; ``synthetic``, generated
frames instead; ``model_dir``, where to look the model up first (it becomes the
appliance's ``$EDGEEYE_MODEL_DIR``).
"""

from __future__ import annotations

import json
import queue
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeeye.publish.stats import Stats
from edgeeye.tools.launcher import launch_run
from edgeeye.tools.local_broker import LocalBroker


def demo_photos() -> Path:
    """The photographs shipped for the demo (CC BY 2.0 and public domain: photos/README.md)."""
    return Path(str(resources.files("edgeeye.tools").joinpath("photos")))


def demo_config(folder: Path, images: Path | None = None) -> str:
    """The demo's config: device ``demo``, stats every 2 s, ``images`` (10 a second) as the
    source if given, and an outbox of its own in ``folder``."""
    text = "device_id: demo\n"
    if images is not None:
        text += f"source: {{type: images, path: {json.dumps(str(images.resolve()))}, fps: 10}}\n"
    # A private outbox too: results spooled for this throwaway broker must not reach a
    # real one at the next `edgeeye run`.
    outbox = json.dumps(str(folder / "outbox.sqlite3"))
    return text + f"mqtt: {{stats_interval: 2}}\noutbox: {{path: {outbox}}}\n"


def demo_environment(port: int, model_dir: Path | None = None) -> dict[str, str]:
    """What the appliance gets on top of this environment: the private broker's port and,
    with ``model_dir``, where it looks models up."""
    env = {"EDGEEYE_MQTT_PORT": str(port)}
    if model_dir is not None:
        env["EDGEEYE_MODEL_DIR"] = str(model_dir.resolve())
    return env


def run_demo(
    seconds: float = 10.0,
    images: Path | None = None,
    model_dir: Path | None = None,
    *,
    synthetic: bool = False,
) -> int:
    """Run the demo; ``images`` None means the shipped photographs unless ``synthetic``."""
    if synthetic:
        images, source = None, "synthetic frames"
    elif images is None:
        images = demo_photos()
        source = f"edgeeye's demo photographs ({images})"
    else:
        source = f"the photographs in {images}"
    with LocalBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "demo.yaml"
        config.write_text(demo_config(Path(tmp), images))
        messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, *_: c.subscribe("edgeeye/#", qos=1)
        client.on_message = lambda _c, _u, message: messages.put(message)
        client.connect(broker.host, broker.port)
        client.loop_start()
        print(f"demo: mosquitto on 127.0.0.1:{broker.port}; subscribed to edgeeye/#")
        print(f"demo: running 'edgeeye run' for {seconds:.0f} s on {source}")
        appliance = launch_run(
            config, "--duration", str(seconds), env=demo_environment(broker.port, model_dir)
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
        top: dict[str, Any] = (
            result["labels"][0] if result["labels"] else {"label": "-", "score": 0}
        )
        print(
            f"  #{result['sequence']:<5} {result.get('source', ''):<18} -> {top['label'][:30]:<30}"
            f" {top['score']:.2f}  worker {result['worker']}  latency {result['latency_ms']:.1f} ms"
        )
    elif message.topic.endswith("/stats"):
        stats = Stats.model_validate_json(message.payload)
        print(
            f"  stats: captured {stats.frames_captured} classified {stats.frames_classified}"
            f" dropped {stats.frames_dropped} published {stats.results_published}"
            f" p99 {stats.latency_ms.p99} ms"
        )
    else:
        print(f"  {message.topic}: {message.payload.decode(errors='replace')}")

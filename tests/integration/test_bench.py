"""Smoke test of ``edgeeye bench --quick``: every section is there with plausible figures.

No timing is asserted: the figures depend on the machine. What must hold is that each part
ran for real (non-zero rates, latencies, memory) and that the report is complete.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from edgeeye.tools.launcher import edgeeye_command

# The quick bench takes 2-3 minutes alone; allow for a slow or busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_quick_bench_reports_every_section(tmp_path, test_data):
    output = tmp_path / "bench"
    completed = subprocess.run(
        edgeeye_command(
            "bench",
            "--quick",
            "--model",
            "mobilenet_v1_0.25_128_quant",
            "--model-dir",
            str(test_data / "models"),
            "--output",
            str(output),
            "--detector",
            str(test_data / "models" / "ssd_mobilenet_v1_coco_quant.tflite"),
            "--detector-labels",
            str(test_data / "models" / "coco_labels.txt"),
            "--box-classifier",
            str(test_data / "models" / "mobilenet_v2_1.0_224_inat_bird_quant.tflite"),
            "--box-classifier-labels",
            str(test_data / "models" / "inat_bird_labels.txt"),
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "ceiling:" in completed.stdout and "baseline thread_pool" in completed.stdout
    report = json.loads((output / "bench.json").read_text())
    assert (output / "bench.txt").read_text().startswith("edgeeye bench: model")

    assert report["model"] == "mobilenet_v1_0.25_128_quant" and report["quick"] is True
    # The appliance started as installed, its modules' bytecode written beforehand.
    assert report["machine"]["bytecode"] == "bytecode written, as installed"
    assert report["ceiling"]["single_core_fps"] > 0
    assert [row["workers"] for row in report["scaling"]] == list(range(1, report["workers"] + 1))
    for row in report["scaling"]:
        assert row["throughput_fps"] > 0 and 0 < row["efficiency"] < 2
        assert row["latency_ms"]["p50"] > 0 and row["received"] > 0
        assert any(name.startswith("edgeeye-w0") for name in row["cpu_share"])
        # Each round's run is set against the ceiling measured in that round, and its
        # workers' pace against the bare pace measured just before it.
        assert len(row["per_round"]) == row["rounds"] >= 1
        for run in row["per_round"]:
            assert run["ceiling_fps"] > 0 and run["bare_pace_fps"] > 0
            assert 0 < run["worker_efficiency"] < 2
    designs = report["baselines"]["640x480"]
    assert set(designs) == {
        "thread_and_queue",
        "thread_pool",
        "multithreaded_interpreter",
        "pickled_processes",
        "edgeeye",
    }
    for row in designs.values():
        assert row["throughput_fps"] > 0 and row["latency_ms"]["p99"] > 0
        assert row["edgeeye_ratio"] > 0
    assert [row["frame"] for row in report["handoff"]] == ["640x480", "1280x720", "1920x1080"]
    for row in report["handoff"]:
        for method in ("ring", "pickled_queue"):
            assert row[method]["cost_us"] > 0 and row[method]["latency_us"] > 0
    assert [row["load"] for row in report["latency"]] == [
        "50% of capacity",
        "100% of capacity",
        "200% (overload)",
    ]
    for row in report["latency"]:
        assert row["throughput_fps"] > 0 and row["latency_ms"]["p99"] > 0
    overload = report["overload"]
    assert overload["first_p99_ms"] > 0 and overload["last_p99_ms"] > 0
    assert overload["first_worker_pace"] > 0 and overload["last_worker_pace"] > 0
    assert "the workers' pace (results per worker CPU-second" in completed.stdout
    assert 0 < overload["drop_rate"] < 1
    memory = report["memory"]
    assert memory["total_peak_mib"] > 0 and memory["processes"] >= 4
    assert any(name.startswith("edgeeye-capture") for name in memory["peak_kib"])
    assert isinstance(memory["grew"], bool)
    features = report["features"]
    for name in ("off", "every_frame_snapshots", "snapshots_hold_1s"):
        assert features[name]["throughput_fps"] > 0 and len(features[name]["runs"]) == 1
    # The flickering patterns change label every frame: snapshots really were made.
    assert features["every_frame_snapshots"]["snapshots_per_s"] > 1
    assert 0 < features["snapshots_hold_1s"]["snapshots_per_s"] <= 1.5
    assert features["off"]["snapshots_per_s"] == 0
    assert "discovery and snapshots" in completed.stdout
    detection = report["detection"]
    assert detection["model"] == "ssd_mobilenet_v1_coco_quant"
    assert detection["single_core_fps"] > 0 and detection["received"] > 0
    assert detection["ceiling_fps"] == pytest.approx(
        detection["single_core_fps"] * detection["workers"], rel=0.01
    )
    assert 0 < detection["of_ceiling"] < 2 and detection["latency_ms"]["p99"] > 0
    assert "detection with ssd_mobilenet_v1_coco_quant" in completed.stdout
    boxes = detection["classify_detections"]
    assert boxes["box_classifier"] == "mobilenet_v2_1.0_224_inat_bird_quant"
    assert boxes["ms_per_box"] > 0 and boxes["detector_ms_per_frame"] > 0
    # The shipped parrot's bird box, found by the detector (not the fallback centre box).
    assert abs(boxes["box"][0] - 0.17) < 0.05 and abs(boxes["box"][3] - 0.92) < 0.05
    assert "ms per box" in completed.stdout

    # The fair fight: both designs counted by the same mosquitto_sub, every process's CPU.
    fight = report["fair_fight"]
    assert fight["rounds"] == 1 and fight["ceiling_fps"] > 0 and fight["edgeeye_over_pool"] > 0
    for design, own in (("edgeeye", "edgeeye-w0"), ("thread_pool", "thread-pool")):
        row = fight[design]
        assert row["throughput_fps"] > 0 and row["cpu_us_per_result"] > 0
        names = {name.split("[")[0] for name in row["cpu_share"]}
        assert {own, "mosquitto", "mosquitto_sub"} <= names
    assert fight["edgeeye"]["main_us_per_result"] > 0
    assert "the fair fight" in completed.stdout
    floor = fight["paho_floor"]
    assert floor["rate_per_s"] == pytest.approx(fight["edgeeye"]["throughput_fps"], abs=0.1)
    assert floor["loop_start_us"] > 0 and floor["network_loop_us"] > 0 and floor["wake_only_us"] > 0
    assert "bare paho-mqtt at" in completed.stdout
    assert all(row["main_us_per_result"] > 0 for row in report["scaling"])
    quiet = report["on_change"]
    assert quiet["classified_fps"] > 0 and 0 < quiet["of_ceiling"] < 2
    target = report["latency_target"]
    assert target["target_p99_ms"] == pytest.approx(2 * target["invoke_ms"] + 10, abs=0.02)

    footprint = report["footprint"]
    memory_start = footprint["memory_and_start"]["workers"]
    assert set(memory_start) == {"1", "2", "4"}
    for count, row in memory_start.items():
        assert row["first_result_s"] > 0 and row["total_pss_mib"] > 0
        workers = {name.split("[")[0] for name in row["pss_mib"] if name.startswith("edgeeye-w")}
        assert workers == {f"edgeeye-w{n}" for n in range(int(count))}
        assert row["total_pss_mib"] == pytest.approx(sum(row["pss_mib"].values()), abs=0.5)
    idle = footprint["idle"]
    assert idle["wakeups_per_s"] >= 0 and any(
        n.startswith("edgeeye-main") for n in idle["per_process"]
    )
    slow = footprint["slow_camera"]
    assert slow["bare_cpu_ms_per_frame"] > 0 and slow["edgeeye_cpu_ms_per_frame"] > 0
    assert "wake-ups/s" in completed.stdout and "PSS" in completed.stdout

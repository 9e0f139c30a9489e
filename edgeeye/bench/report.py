"""The benchmark's outputs: a table on the terminal, a JSON file, a PNG when matplotlib is here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def table(report: dict[str, Any]) -> str:
    lines = [
        f"edgeeye bench: model {report['model']}, {report['machine']['cpus']} cpus,"
        f" {report['machine']['runtime']}; edgeeye's modules: {report['machine']['bytecode']}",
        f"ceiling: {report['ceiling']['single_core_fps']:.1f} frames/s on one core"
        f" at {report['frame']}",
    ]
    if "fair_fight" in report:
        lines += _fair_lines(report["fair_fight"])
    if "preprocessing" in report:
        lines += _preprocessing_lines(report["preprocessing"])
    if "scaling" in report:
        lines += _pipeline_lines(report)
    if "footprint" in report:
        lines += _footprint_lines(report["footprint"])
    if "features" in report:
        lines += _feature_lines(report["features"])
    if "detection" in report:
        lines += _detection_lines(report["detection"])
    return "\n".join(lines)


def _cpu(shares: dict[str, float]) -> str:
    return ", ".join(f"{name.split('[')[0]} {share:g}" for name, share in shares.items())


def _fair_lines(fight: dict[str, Any]) -> list[str]:
    edgeeye, pool = fight["edgeeye"], fight["thread_pool"]
    lines = [
        "",
        f"the fair fight, {fight['workers']} workers, every result published at QoS 1 and"
        f" counted by mosquitto_sub (median of {fight['rounds']} alternating rounds;"
        f" ceiling {fight['ceiling_fps']:.1f} frames/s)",
        f"{'design':<14} {'frames/s':>9} {'of ceiling':>10} {'p99 ms':>8} {'cpu us/result':>14}",
    ]
    for name, row in (("edgeeye", edgeeye), ("thread_pool", pool)):
        lines.append(
            f"{name:<14} {row['throughput_fps']:>9.1f} {row['of_ceiling']:>10.3f}"
            f" {row['p99_ms']:>8.2f} {row['cpu_us_per_result']:>14.0f}"
        )
        lines.append(f"{'':<14}   cpu in cores: {_cpu(row['cpu_share'])}")
    lines.append(
        f"edgeeye / thread pool: {fight['edgeeye_over_pool']:.3f}; edgeeye's main process"
        f" spends {edgeeye['main_us_per_result']:.0f} us of CPU per published result"
    )
    floor = fight.get("paho_floor")
    if floor is not None:
        lines.append(
            f"bare paho-mqtt at {floor['rate_per_s']:.0f} messages/s, QoS 1, CPU per message:"
            f" loop_start thread {floor['loop_start_us']:.0f} us, edgeeye's network loop"
            f" (one thread serves the socket) {floor['network_loop_us']:.0f} us; a wake-up alone"
            f" {floor['wake_only_us']:.0f} us"
        )
    return lines


def _footprint_lines(footprint: dict[str, Any]) -> list[str]:
    memory = footprint["memory_and_start"]
    lines = [
        "",
        f"memory (PSS, shared pages counted once) and start to first result at the"
        f" subscriber (median of {memory['rounds']} round(s))",
        f"{'workers':>8} {'total MiB':>10} {'first result s':>15}   per process MiB",
    ]
    for count, row in memory["workers"].items():
        each = ", ".join(f"{name.split('[')[0]} {mib:g}" for name, mib in row["pss_mib"].items())
        lines.append(
            f"{count:>8} {row['total_pss_mib']:>10.1f} {_fmt(row['first_result_s']):>15}   {each}"
        )
    idle, slow = footprint["idle"], footprint["slow_camera"]
    per_process = ", ".join(
        f"{name.split('[')[0]} {rate:g}" for name, rate in idle["per_process"].items()
    )
    lines += [
        f"idle ({idle['workers']} workers, no frame arriving): {idle['wakeups_per_s']:g}"
        f" wake-ups/s in all processes ({per_process})",
        f"steady {slow['fps']:g} frames/s ({slow['workers']} workers): edgeeye"
        f" {slow['edgeeye_cpu_ms_per_frame']:.2f} ms of CPU per frame in all its processes,"
        f" bare invoke {slow['bare_cpu_ms_per_frame']:.2f} ms: {slow['ratio']:.3f}x",
    ]
    return lines


def _detection_lines(detection: dict[str, Any]) -> list[str]:
    if "skipped" in detection:
        return ["", f"detection: skipped ({detection['skipped']})"]
    return [
        "",
        f"detection with {detection['model']}, {detection['workers']} workers:"
        f" {detection['throughput_fps']:.1f} frames/s, {detection['of_ceiling']:.2f} of its"
        f" ceiling ({detection['single_core_fps']:.1f} frames/s on one core),"
        f" p99 {detection['latency_ms']['p99']} ms",
        *_box_lines(detection.get("classify_detections")),
    ]


def _box_lines(boxes: dict[str, Any] | None) -> list[str]:
    if boxes is None:
        return []
    return [
        f"classify_detections with {boxes['box_classifier']}: {boxes['ms_per_box']:.2f} ms per"
        f" box (crop, resize, invoke; median of {boxes['rounds']} rounds), against"
        f" {boxes['detector_ms_per_frame']:.2f} ms per frame for the detector"
    ]


def _preprocessing_lines(costs: dict[str, Any]) -> list[str]:
    names = list(next(iter(costs["sizes"].values())))
    lines = [
        "",
        f"preprocessing to {costs['input']}, ms per frame on one core"
        f" (median of {costs['rounds']} alternating rounds; sampled = before, edgeeye = now)",
        f"{'frame':<10}" + "".join(f" {name:>12}" for name in names),
    ]
    for size, row in costs["sizes"].items():
        lines.append(f"{size:<10}" + "".join(f" {row[name]:>12.3f}" for name in names))
    return lines


def _feature_lines(features: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"discovery and snapshots, {features['workers']} workers, every frame published,"
        f" {features['rounds']} round(s) each",
        f"{'variant':<24} {'frames/s':>9} {'snapshots/s':>12} {'cost':>7}"
        f" {'worker ms/frame':>16} {'main cores':>11}",
    ]
    for name in ("off", "every_frame_snapshots", "snapshots_hold_1s"):
        row = features[name]
        lines.append(
            f"{name:<24} {row['throughput_fps']:>9.1f} {row['snapshots_per_s']:>12.1f}"
            f" {row['cost_percent']:>6.2f}% {_fmt(row['worker_ms_per_frame']):>16}"
            f" {_fmt(row['main_cores']):>11}"
        )
    return lines


def _pipeline_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "edgeeye through a real broker (frames/s received by the subscriber)",
        f"{'workers':>8} {'ceiling':>8} {'edgeeye':>8} {'efficiency':>10}"
        f" {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for row in report["scaling"]:
        lines.append(
            f"{row['workers']:>8} {row['ceiling_fps']:>8.1f} {row['throughput_fps']:>8.1f}"
            f" {row['efficiency']:>10.2f} {_fmt(row['latency_ms']['p50']):>8}"
            f" {_fmt(row['latency_ms']['p99']):>8}"
        )
        lines.append(f"{'':>8}   cpu in cores: {_cpu(row['cpu_share'])}")
        lines.append(
            f"{'':>8}   workers had {row['worker_cores']} cores and ran at"
            f" {_fmt(row['worker_efficiency'])} of the bare pace on them (median of"
            f" {row['rounds']} rounds, each against the bare pace measured just before it);"
            f" main process"
            f" {_fmt(row['main_us_per_result'])} us of CPU per result"
        )
    if "on_change" in report:
        quiet = report["on_change"]
        lines.append(
            f"publish.mode on_change: {quiet['classified_fps']:.1f} frames/s classified,"
            f" {quiet['of_ceiling']:.3f} of the ceiling ({quiet['messages_per_minute']:g}"
            f" messages/min; workers at {_fmt(quiet['worker_efficiency'])} of the bare pace)"
        )
    for frame, designs in report["baselines"].items():
        lines += ["", f"baselines at {frame}, {report['workers']} workers (no MQTT in their loop)"]
        lines.append(
            f"{'design':<28} {'frames/s':>9} {'of ceiling':>10} {'edgeeye x':>9} {'p99 ms':>8}"
        )
        for name, row in designs.items():
            lines.append(
                f"{name:<28} {row['throughput_fps']:>9.1f} {row['of_ceiling']:>10.2f}"
                f" {_fmt(row['edgeeye_ratio']):>9} {_fmt(row['latency_ms']['p99']):>8}"
            )
    lines += ["", "hand-off per frame (us): streamed cost / one-way latency"]
    lines.append(f"{'frame':<10} {'ring':>16} {'pickled queue':>18}")
    for row in report["handoff"]:
        ring, pickled = row["ring"], row["pickled_queue"]
        lines.append(
            f"{row['frame']:<10} {ring['cost_us']:>7.1f} / {ring['latency_us']:<6.1f}"
            f" {pickled['cost_us']:>9.1f} / {pickled['latency_us']:<8.1f}"
        )
    lines += ["", "latency, capture to subscriber (ms)"]
    lines.append(
        f"{'load':<22} {'frames/s':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'drops':>6}"
    )
    for row in report["latency"]:
        ms = row["latency_ms"]
        lines.append(
            f"{row['load']:<22} {row['throughput_fps']:>8.1f} {_fmt(ms['p50']):>7}"
            f" {_fmt(ms['p95']):>7} {_fmt(ms['p99']):>7} {_fmt(ms['max']):>7}"
            f" {_fmt(row['drop_rate']):>6}"
        )
    if "latency_target" in report:
        target = report["latency_target"]
        lines.append(
            f"p99 at 50% load {_fmt(target['p99_at_half_ms'])} ms; target 2 x invoke"
            f" {target['invoke_ms']:.2f} ms + 10 ms = {target['target_p99_ms']:.2f} ms"
        )
    overload = report["overload"]
    lines.append(
        f"overload {overload['seconds']:.0f} s: p99 in the first {overload['edge_s']:.0f} s"
        f" {_fmt(overload['first_p99_ms'])} ms, in the last {_fmt(overload['last_p99_ms'])} ms,"
        f" drop rate {_fmt(overload['drop_rate'])}; the workers' pace (results per worker"
        f" CPU-second, the host's speed) {_fmt(overload['first_worker_pace'])} in the first,"
        f" {_fmt(overload['last_worker_pace'])} in the last"
    )
    memory = report["memory"]
    lines += [
        "",
        f"memory: total peak {memory['total_peak_mib']:.1f} MiB over {memory['processes']}"
        f" processes; largest growth after warm-up {memory['max_growth_kib']} KiB"
        f" ({'grew' if memory['grew'] else 'flat'})",
    ]
    for name, kib in sorted(memory["peak_kib"].items()):
        lines.append(f"  {name:<28} {kib / 1024:8.1f} MiB peak")
    return lines


def write(report: dict[str, Any], output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "bench.json"]
    written[0].write_text(json.dumps(report, indent=2) + "\n")
    (output / "bench.txt").write_text(table(report) + "\n")
    written.append(output / "bench.txt")
    plot = _plot(report, output / "bench.png")
    if plot is not None:
        written.append(plot)
    return written


def _plot(report: dict[str, Any], path: Path) -> Path | None:
    if "scaling" not in report:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    workers = [row["workers"] for row in report["scaling"]]
    left.plot(workers, [row["ceiling_fps"] for row in report["scaling"]], "k--", label="ceiling")
    left.plot(workers, [row["throughput_fps"] for row in report["scaling"]], "o-", label="edgeeye")
    left.set(xlabel="workers", ylabel="frames/s", title="throughput")
    left.legend()
    first_frame = next(iter(report["baselines"]))
    designs = report["baselines"][first_frame]
    right.barh(list(designs), [row["throughput_fps"] for row in designs.values()])
    right.set(xlabel="frames/s", title=f"designs at {first_frame}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path

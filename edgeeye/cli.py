"""The ``edgeeye`` command. The only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from edgeeye import __version__
from edgeeye.errors import (
    BrokerRefused,
    BrokerUnreachable,
    ChildProcessFailed,
    ConfigError,
    DownloadError,
    EdgeeyeError,
    ModelError,
    ResourceError,
    SourceError,
)

#: Exit statuses, documented in the README. 130 is a forced stop (second Ctrl-C).
EXIT_CODES: dict[type[EdgeeyeError], int] = {
    ConfigError: 2,
    ModelError: 3,
    SourceError: 4,
    ResourceError: 5,
    DownloadError: 6,
    BrokerRefused: 7,
    BrokerUnreachable: 8,
    ChildProcessFailed: 1,
}


def exit_code_for(error: EdgeeyeError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def _run(args: argparse.Namespace) -> int:
    # The children's server first: its imports then overlap ours (a systemd restart is
    # downtime, and this halves the time to the first result).
    from edgeeye.supervision.child_server import start_child_server

    start_child_server()
    from edgeeye.pipeline.process_setup import yield_to_workers

    yield_to_workers()  # after the server (whose children must not inherit it), before threads
    from edgeeye.supervision.reload import prepare
    from edgeeye.supervision.supervisor import Supervisor

    config, model = prepare(args.config)
    logging.getLogger().setLevel(config.logging.level)
    outcome = Supervisor(config, model, duration=args.duration, config_path=args.config).run()
    logging.getLogger("edgeeye").info("stopped (%s): %s", outcome.end.value, asdict(outcome.stats))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    """The verdict a reload (SIGHUP) would give: config, model and labels all checked; and
    that the source's libraries import here (picamera2 with this venv's numpy)."""
    from edgeeye.config.app import dump_config
    from edgeeye.inference.model import describe
    from edgeeye.sources.configured import check_source_imports, source_warnings
    from edgeeye.supervision.reload import prepare

    config, model = prepare(args.file)
    check_source_imports(config.source)
    print(f"edgeeye: {describe(model)}", file=sys.stderr)
    for warning in source_warnings(config.source):
        print(f"edgeeye: warning: {warning}", file=sys.stderr)
    print(dump_config(config), end="")
    return 0


def _model_list(_args: argparse.Namespace) -> int:
    from edgeeye.inference import zoo

    print(zoo.format_model_list(zoo.cached_models()))
    return 0


def _model_pull(args: argparse.Namespace) -> int:
    from edgeeye.inference import zoo
    from edgeeye.inference.download_progress import TerminalProgress

    model_path, labels_path = zoo.pull(args.name, progress=TerminalProgress(sys.stderr))
    print(f"{args.name}: {model_path}\nlabels: {labels_path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from edgeeye.tools.demo import run_demo

    return run_demo(
        seconds=args.seconds, images=args.images, model_dir=args.model_dir, synthetic=args.synthetic
    )


def _bench(args: argparse.Namespace) -> int:
    from edgeeye.bench import report
    from edgeeye.bench.runner import BenchOptions, run_bench
    from edgeeye.config.app import load_config
    from edgeeye.supervision.reload import resolve_model_files

    if args.model_dir is not None:
        # Where a model given by name is looked up, here and in every process started.
        os.environ["EDGEEYE_MODEL_DIR"] = str(args.model_dir.resolve())
    if args.model.endswith(".tflite"):
        if not args.labels:
            raise ConfigError("bench: --labels is required with a model file")
        model_path, labels_path = Path(args.model).resolve(), Path(args.labels).resolve()
    else:
        config = load_config(None).model_copy(deep=True)
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"name": args.model})}
        )
        model_path, manifest_labels = resolve_model_files(config.model)
        if manifest_labels is None:  # a manifest model always has its labels file
            raise ConfigError(f"bench: model {args.model} has no labels file")
        labels_path = manifest_labels
    detector = None
    if args.detector:
        if not args.detector_labels:
            raise ConfigError("bench: --detector-labels is required with --detector")
        detector = (Path(args.detector).resolve(), Path(args.detector_labels).resolve())
    box_classifier = None
    if args.box_classifier:
        if not args.box_classifier_labels:
            raise ConfigError("bench: --box-classifier-labels is required with --box-classifier")
        box_classifier = (
            Path(args.box_classifier).resolve(),
            Path(args.box_classifier_labels).resolve(),
        )
    width, height = (int(n) for n in args.frame.lower().split("x"))
    options = BenchOptions(
        model_path=model_path,
        labels_path=labels_path,
        quick=args.quick,
        max_workers=args.workers,
        width=width,
        height=height,
        features_only=args.features_only,
        detector=detector,
        box_classifier=box_classifier,
    )
    result = run_bench(options, progress=lambda line: print(line, flush=True))
    print()
    print(report.table(result))
    for path in report.write(result, Path(args.output)):
        print(f"wrote {path}")
    return 0


def _forget(args: argparse.Namespace) -> int:
    from edgeeye.config.app import load_config
    from edgeeye.tools.forget import forget

    environ = dict(os.environ)
    if args.device_id:
        environ["EDGEEYE_DEVICE_ID"] = args.device_id  # validated like the config's own
    config = load_config(args.config, environ)
    for topic in forget(config, force=args.force):
        print(f"cleared {topic}")
    return 0


def _watch(args: argparse.Namespace) -> int:
    from edgeeye.config.app import load_config
    from edgeeye.tools.watch import Watcher

    settings = load_config(args.config).mqtt
    update = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    # Started in the background by a non-interactive shell, SIGINT arrives ignored; watch
    # is stopped with Ctrl-C (or SIGINT from a script), so it takes the signal back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    Watcher(settings.model_copy(update=update), as_json=args.json).run(args.duration)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeeye", description="Classify camera frames on-device and publish to MQTT."
    )
    parser.add_argument("--version", action="version", version=f"edgeeye {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the appliance until SIGINT/SIGTERM")
    run.add_argument("--config", "-c", help="YAML config (default: built-in defaults)")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate a config and print it resolved")
    check.add_argument("file")
    check.set_defaults(handler=_check_config)

    model = commands.add_parser("model", help="list or download standard models")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    model_commands.add_parser("list", help="show manifest models and where they are").set_defaults(
        handler=_model_list
    )
    pull = model_commands.add_parser("pull", help="download a model and verify its checksum")
    pull.add_argument("name")
    pull.set_defaults(handler=_model_pull)

    demo = commands.add_parser(
        "demo", help="start a private broker, run the pipeline briefly, show results"
    )
    demo.add_argument("--seconds", type=float, default=10.0)
    demo.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="a folder of photographs to classify (default: the ones shipped with edgeeye)",
    )
    demo.add_argument(
        "--synthetic", action="store_true", help="generated frames instead of photographs"
    )
    demo.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="where to look the model up first ($EDGEEYE_MODEL_DIR), then the cache,"
        " then the built-in",
    )
    demo.set_defaults(handler=_demo)
    bench = commands.add_parser(
        "bench", help="measure throughput, latency and memory against the hardware and baselines"
    )
    bench.add_argument("--model", default="mobilenet_v2_1.0_224_quant", help="name or .tflite")
    bench.add_argument("--labels", help="labels file, with a .tflite --model")
    bench.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="where to look a --model NAME up first ($EDGEEYE_MODEL_DIR), then the cache",
    )
    bench.add_argument("--detector", metavar="FILE", help="a detector .tflite to measure too")
    bench.add_argument("--detector-labels", metavar="FILE", help="its labels file")
    bench.add_argument(
        "--box-classifier",
        metavar="FILE",
        help="the classify_detections model whose cost per box is measured (default: --model)",
    )
    bench.add_argument("--box-classifier-labels", metavar="FILE", help="its labels file")
    bench.add_argument("--quick", action="store_true", help="a shorter run (under 3 minutes)")
    bench.add_argument("--workers", type=int, default=0, help="most workers (default: cores)")
    bench.add_argument("--frame", default="640x480", help="frame size, WIDTHxHEIGHT")
    bench.add_argument("--output", default="bench-results", help="folder for JSON/text/PNG")
    bench.add_argument(
        "--features-only",
        action="store_true",
        help="only what Home Assistant discovery and snapshots cost in throughput",
    )
    bench.set_defaults(handler=_bench)

    forget = commands.add_parser(
        "forget", help="remove a decommissioned device's retained messages and HA entities"
    )
    forget.add_argument("--config", "-c", help="the device's config (broker, device_id, prefixes)")
    forget.add_argument("--device-id", help="another device than the config's")
    forget.add_argument("--force", action="store_true", help="even if it says it is online")
    forget.set_defaults(handler=_forget)

    watch = commands.add_parser("watch", help="a live table of every edgeeye device on a broker")
    watch.add_argument("--config", "-c", help="take the broker and topic prefix from this config")
    watch.add_argument("--host", help="broker host (default: the config's, else 127.0.0.1)")
    watch.add_argument("--port", type=int, help="broker port")
    watch.add_argument("--json", action="store_true", help="one JSON line per message instead")
    watch.add_argument("--duration", type=float, help="stop after this many seconds")
    watch.set_defaults(handler=_watch)
    return parser


def main(argv: list[str] | None = None) -> int:
    # No pydantic plugin hooks into the config's validation: edgeeye uses none, one that
    # happens to be installed (the venv sees the system's packages too) would run inside
    # it, and finding them reads every installed package's metadata on the way to the
    # first result.  A user who wants one sets the variable.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except EdgeeyeError as exc:
        print(f"edgeeye: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())

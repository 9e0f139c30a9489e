"""``edgeeye model pull``'s progress: drawn on a terminal, silent elsewhere, and never a
half-written file under the final name (a real loopback HTTP server, real model files)."""

from __future__ import annotations

import http.server
import io
import threading

import pytest

from edgeeye.errors import DownloadError
from edgeeye.inference import zoo
from edgeeye.inference.download_progress import TerminalProgress, progress_line
from tests.unit.test_zoo import cache, server  # noqa: F401  (fixtures)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def started(self, name: str, total: int | None) -> None:
        self.events.append(("started", (name, total)))

    def advanced(self, done: int) -> None:
        self.events.append(("advanced", done))

    def finished(self, ok: bool) -> None:
        self.events.append(("finished", ok))


def test_the_line_gives_bytes_rate_and_time_left():
    line = progress_line("m.tflite", 1_200_000, 3_600_000, 1.0)
    assert line == "m.tflite  1.2 MB of 3.6 MB  1.2 MB/s  ETA 2 s"
    assert progress_line("m.tflite", 500, None, 2.0) == "m.tflite  500 B  250 B/s"


def test_on_a_terminal_the_line_is_redrawn_at_most_ten_times_a_second():
    terminal, clock = _Terminal(), _Clock()
    meter = TerminalProgress(terminal, clock)
    meter.started("m.tflite", 3_000_000)
    for done in range(0, 1_000_000, 1000):  # a thousand blocks within 10 ms
        meter.advanced(done)
        clock.now += 0.00001
    clock.now += 1.0
    meter.advanced(3_000_000)
    meter.finished(True)
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 3  # the first block, the last one, and the final redraw
    assert drawn.endswith("m.tflite  3.0 MB of 3.0 MB  3.0 MB/s  ETA 0 s\033[K  done\n")


def test_when_not_on_a_terminal_nothing_is_written():
    piped = io.StringIO()
    meter = TerminalProgress(piped)
    meter.started("m.tflite", 10)
    meter.advanced(10)
    meter.finished(True)
    assert piped.getvalue() == ""


def test_pull_reports_each_file_size_and_bytes(cache, server):  # noqa: F811
    recorder = _Recorder()
    model, labels = zoo.pull(
        "mobilenet_v1_0.25_128_quant", manifest=server.manifest(), progress=recorder
    )
    started = [value for kind, value in recorder.events if kind == "started"]
    assert started == [
        ("mobilenet_v1_0.25_128_quant.tflite", model.stat().st_size),
        ("imagenet_labels.txt", labels.stat().st_size),
    ]
    assert ("advanced", model.stat().st_size) in recorder.events
    assert [value for kind, value in recorder.events if kind == "finished"] == [True, True]


def test_an_interrupted_pull_leaves_no_file_under_any_name(cache, server):  # noqa: F811
    class Interrupt(_Recorder):
        def advanced(self, done: int) -> None:
            if done > 100_000:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        zoo.pull("mobilenet_v1_0.25_128_quant", manifest=server.manifest(), progress=Interrupt())
    assert list(cache.iterdir()) == []


def test_a_connection_cut_short_is_a_download_error_and_leaves_nothing(cache):  # noqa: F811
    class HalfBody(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "500000")
            self.end_headers()
            self.wfile.write(b"\0" * 200_000)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HalfBody)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        entry = zoo.load_manifest()["mobilenet_v1_0.25_128_quant"]
        url = f"http://127.0.0.1:{httpd.server_address[1]}/m.tflite"
        cut = {entry.name: zoo.ModelEntry(**{**entry.__dict__, "url": url})}
        with pytest.raises(
            DownloadError, match=r"m\.tflite: download failed: cut short at 200000 of 500000 bytes"
        ):
            zoo.pull(entry.name, manifest=cut)
    finally:
        httpd.shutdown()
    assert list(cache.iterdir()) == []

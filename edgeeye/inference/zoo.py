"""The model zoo: where the manifest's models are looked up, and checksum-verified downloads."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

from edgeeye.config.manifest import ModelEntry, load_manifest
from edgeeye.errors import DownloadError, ModelError
from edgeeye.inference.download_progress import DownloadProgress

DOWNLOAD_TIMEOUT_S = 60


def cache_dir() -> Path:
    if "EDGEEYE_MODEL_CACHE" in os.environ:
        return Path(os.environ["EDGEEYE_MODEL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgeeye" / "models"


def builtin_dir() -> Path | None:
    """The models shipped in the package (the repository's ``models/``), if installed.

    A wheel installs them as plain files, so the folder is a real path; an install that
    keeps the package in a zip has no such folder and relies on the cache.
    """
    try:
        folder = resources.files("edgeeye.models")
    except ModuleNotFoundError:
        return None
    return folder if isinstance(folder, Path) and folder.is_dir() else None


def model_dirs() -> list[Path]:
    """Where models are looked up, in order: $EDGEEYE_MODEL_DIR, the cache, the built-in."""
    dirs = []
    if os.environ.get("EDGEEYE_MODEL_DIR"):
        dirs.append(Path(os.environ["EDGEEYE_MODEL_DIR"]).expanduser().resolve())
    dirs.append(cache_dir())
    builtin = builtin_dir()
    if builtin is not None:
        dirs.append(builtin)
    return dirs


_verified: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """The file's sha256, remembered per (path, size, mtime): it is checked at every start."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _present(directory: Path, filename: str, sha256: str) -> Path | None:
    path = directory / filename
    if path.is_file() and sha256_of(path) == sha256:
        return path
    return None


def find_model(
    name: str, manifest: dict[str, ModelEntry] | None = None
) -> tuple[Path, Path] | None:
    """(model, labels) of a manifest model present with the right checksums, else None."""
    entry = (manifest or load_manifest())[name]
    for directory in model_dirs():
        model = _present(directory, entry.filename, entry.sha256)
        labels = _present(directory, entry.labels, entry.labels_sha256)
        if model and labels:
            return model, labels
    return None


def pull(
    name: str,
    *,
    manifest: dict[str, ModelEntry] | None = None,
    progress: DownloadProgress | None = None,
) -> tuple[Path, Path]:
    """Make a manifest model available, downloading into the cache only what is missing.

    ``progress`` hears of each file's size and bytes as they arrive (the CLI draws them on
    a terminal).  A file is written beside its final name and renamed into place only once
    complete with the manifest's sha256, so an interrupted pull leaves nothing behind.
    """
    manifest = manifest or load_manifest()
    if name not in manifest:
        raise ModelError(
            f"model {name}: not in the manifest (known: {', '.join(sorted(manifest))})"
        )
    found = find_model(name, manifest)
    if found is not None:
        return found
    entry = manifest[name]
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True, mode=0o700)  # downloads are 0600 (mkstemp)
    paths = []
    for url, filename, sha256 in (
        (entry.url, entry.filename, entry.sha256),
        (entry.labels_url, entry.labels, entry.labels_sha256),
    ):
        path = _present(target, filename, sha256)
        if path is None:
            path = _download(url, target / filename, sha256, progress)
        paths.append(path)
    return paths[0], paths[1]


def _download(
    url: str, destination: Path, sha256: str, progress: DownloadProgress | None = None
) -> Path:
    """Download to a temporary file beside ``destination``; rename only if the checksum matches."""
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".part-")
    digest = hashlib.sha256()
    ok = False
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        ):
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            if progress:
                progress.started(destination.name, total)
            done = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                digest.update(block)
                out.write(block)
                done += len(block)
                if progress:
                    progress.advanced(done)
        if total is not None and done != total:
            # read(n) returns short at a closed connection rather than raising.
            raise DownloadError(f"{url}: download failed: cut short at {done} of {total} bytes")
        if digest.hexdigest() != sha256:
            raise DownloadError(
                f"{url}: checksum mismatch: expected sha256 {sha256}, got {digest.hexdigest()}"
            )
        os.replace(temporary, destination)
        ok = True
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        # HTTPException: a connection cut short (IncompleteRead) is not an OSError.
        raise DownloadError(f"{url}: download failed: {getattr(exc, 'reason', exc)}") from exc
    finally:
        # Also on Ctrl-C: no partial file is left, under any name.
        if not ok:
            Path(temporary).unlink(missing_ok=True)
        if progress:
            progress.finished(ok)
    return destination


def cached_models() -> list[tuple[ModelEntry, Path | None]]:
    """Every manifest model and where it is available (None when it must be pulled)."""
    manifest = load_manifest()
    return [(entry, (find_model(name, manifest) or (None,))[0]) for name, entry in manifest.items()]


def format_model_list(models: list[tuple[ModelEntry, Path | None]]) -> str:
    rows = [("NAME", "INPUT", "WHERE", "DESCRIPTION")]
    builtin = builtin_dir()
    for entry, path in models:
        size = f"{entry.input_size[0]}x{entry.input_size[1]}"
        if path is None:
            where = "(not pulled)"
        elif builtin is not None and path.parent == builtin:
            where = "built in"
        else:
            where = str(path)
        rows.append((entry.name, size, where, entry.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for row in rows
    )

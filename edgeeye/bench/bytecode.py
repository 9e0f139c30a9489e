"""Run the appliance as it is installed: with its modules' bytecode already written.

pip writes every module's bytecode when it installs the wheel (the Ansible role does, and
the unit's read-only file system could not write it later), so a deployed ``edgeeye run``
compiles nothing.  A checkout installed in editable mode writes it on the first import,
unless ``PYTHONDONTWRITEBYTECODE`` is set, in which case every start compiles edgeeye's
modules again (about 0.1 s on 2 cores here): a cost no appliance pays.
"""

from __future__ import annotations

import compileall
import importlib.util
from pathlib import Path

import edgeeye


def uncompiled_modules(package: Path) -> list[Path]:
    """The package's modules whose bytecode is missing or older than their source."""
    stale = []
    for source in sorted(package.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            stale.append(source)
    return stale


def compile_as_installed(package: Path | None = None) -> str:
    """Write the bytecode of ``package`` (the edgeeye that runs here) as pip does, and
    say in a few words how the appliance will start: the bench prints it and keeps it."""
    root = package or Path(edgeeye.__file__).parent
    compileall.compile_dir(root, quiet=2)
    stale = uncompiled_modules(root)
    if not stale:
        return "bytecode written, as installed"
    return f"{len(stale)} modules compiled at every start (cannot write beside {stale[0]})"

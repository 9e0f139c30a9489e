"""The bench runs the appliance as installed: every module's bytecode written first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgeeye.bench.bytecode import compile_as_installed, uncompiled_modules


def _package(root: Path) -> Path:
    package = root / "appliance"
    (package / "part").mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "part" / "__init__.py").write_text("")
    (package / "part" / "code.py").write_text("def answer():\n    return 42\n")
    return package


def test_every_module_gets_its_bytecode_and_an_edited_one_is_stale_again(tmp_path):
    package = _package(tmp_path)
    before = uncompiled_modules(package)
    assert [p.relative_to(package).as_posix() for p in before] == [
        "__init__.py",
        "part/__init__.py",
        "part/code.py",
    ]

    assert compile_as_installed(package) == "bytecode written, as installed"
    assert uncompiled_modules(package) == []
    # Python then runs the written bytecode, even where it may not write any itself: a
    # source changed behind its back (same size, same time) still answers from the cache.
    code = package / "part" / "code.py"
    written = code.stat()
    code.write_text("def answer():\n    return 24\n")
    os.utime(code, ns=(written.st_atime_ns, written.st_mtime_ns))
    answer = subprocess.run(
        [sys.executable, "-c", "import appliance.part.code as c; print(c.answer())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stdout.strip()
    assert answer == "42"

    code.write_text("def answer():\n    return 43\n")
    later = code.stat().st_mtime + 10
    os.utime(code, (later, later))
    assert uncompiled_modules(package) == [code]


def test_a_package_it_cannot_write_beside_is_reported_not_hidden(tmp_path):
    package = _package(tmp_path)
    (package / "part" / "__pycache__").write_text("a file where the cache folder would go")

    said = compile_as_installed(package)

    assert said.startswith("2 modules compiled at every start (cannot write beside ")
    assert str(package / "part") in said

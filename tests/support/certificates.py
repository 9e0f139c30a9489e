"""A throwaway CA and a broker certificate it signed, made with ``openssl`` by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def make_certificates(folder: Path, names: str = "IP:127.0.0.1") -> dict[str, Path]:
    """``ca``, ``ca-key``, ``server`` and ``server-key`` PEM files in ``folder``: a CA, and a
    certificate for ``names`` (a subjectAltName value) it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.pem" for name in ("ca", "ca-key", "server", "server-key")}
    csr, extensions = folder / "server.csr", folder / "san.cnf"
    extensions.write_text(f"subjectAltName={names}\n")
    ca, ca_key, server, server_key = (files[n] for n in ("ca", "ca-key", "server", "server-key"))
    commands = [
        f"req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout {ca_key} -out {ca}",
        f"req -newkey rsa:2048 -nodes -subj /CN=edgeeye-broker -keyout {server_key} -out {csr}",
        f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 2"
        f" -extfile {extensions} -out {server}",
    ]
    for command in commands:
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
    for path in files.values():
        os.chmod(path, 0o644)  # mosquitto reads them after dropping to its own user
    return files

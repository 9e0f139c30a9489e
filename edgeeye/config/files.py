"""The files a config names outside itself: where state lives, and the broker's secrets.

Checked by ``edgeeye check-config`` and at every start and reload (the same verdict each
time), and read by the MQTT client when it connects.  Errors name the config key and the
file, never a password.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeeye.config.sections import MqttConfig, MqttTlsConfig
from edgeeye.errors import ConfigError


def default_state_dir() -> Path:
    """systemd's ``StateDirectory`` when it gave us one, else the XDG state directory."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "edgeeye"


def private_file(path: Path) -> None:
    """Create ``path`` (empty) or tighten it, readable and writable by its owner only,
    whatever the umask: results and models are nobody else's business on a shared Pi."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def check_broker_files(settings: MqttConfig) -> None:
    """Raise the error a start would give for an unreadable password or TLS file."""
    read_password(settings)
    if settings.tls is not None:
        check_tls_files(settings.tls)


def read_password(settings: MqttConfig) -> str:
    """The password's first line; errors name the file, never its content."""
    path = settings.password_path()
    if path is None:
        return ""
    key = "mqtt.password_credential" if settings.password_credential else "mqtt.password_file"
    try:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot read: {exc.strerror}") from None


def check_tls_files(tls: MqttTlsConfig) -> None:
    for key, path in (
        ("ca_file", tls.ca_file),
        ("cert_file", tls.cert_file),
        ("key_file", tls.key_file),
    ):
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"mqtt.tls.{key}: {path}: cannot read")

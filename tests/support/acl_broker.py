"""A real mosquitto enforcing the shipped ACL (configs/mosquitto/edgeeye.acl) with a
password file from ``mosquitto_passwd`` (or running the shipped broker config,
configs/mosquitto/edgeeye.conf, with TLS), and MQTT clients that log in to it as a user."""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edgeeye.tools.local_broker import LocalBroker, free_port
from tests.support.certificates import make_certificates
from tests.support.mqtt import collect
from tests.support.paths import REPO

ACL_FILE = REPO / "configs" / "mosquitto" / "edgeeye.acl"
EXAMPLE_CONFIG = REPO / "configs" / "mosquitto" / "edgeeye.conf"
Messages = list[mqtt.MQTTMessage]


class AclBroker(LocalBroker):
    """mosquitto with ``allow_anonymous false``, the repository's ACL file as it is, and
    one user per name in ``users`` (random passwords, in ``passwords``)."""

    def __init__(self, users: Iterable[str]) -> None:
        super().__init__()
        self.passwords = {user: secrets.token_urlsafe(12) for user in users}
        self.password_file = self.dir / "passwords"
        for position, (user, password) in enumerate(self.passwords.items()):
            create = ["-c"] if position == 0 else []
            command = ["mosquitto_passwd", "-b", *create, str(self.password_file), user, password]
            subprocess.run(command, check=True, capture_output=True)
        # A byte-for-byte copy where mosquitto may read it once it has dropped to its own
        # user (the working tree may be closed to it).
        self.acl_file = self.dir / "edgeeye.acl"
        shutil.copyfile(ACL_FILE, self.acl_file)
        for path in (self.password_file, self.acl_file):
            os.chmod(path, 0o644)
        self._listener_options = (
            "allow_anonymous false",
            f"password_file {self.password_file}",
            f"acl_file {self.acl_file}",
        )

    def password_file_for(self, user: str, folder: Path) -> Path:
        """``folder/<user>.password``: what ``mqtt.password_file`` of that device names."""
        path = folder / f"{user}.password"
        path.write_text(self.passwords[user] + "\n")
        return path


class ExampleConfigBroker(AclBroker):
    """mosquitto running configs/mosquitto/edgeeye.conf as it is, but for its paths (made
    the test's files: a CA and a broker certificate from ``openssl``) and its listeners
    (free loopback ports: ``tls_port``, ``local_port``)."""

    def __init__(self, users: Iterable[str]) -> None:
        super().__init__(users)
        self.ca_file, certificate, key = broker_certificates(self.dir)
        self.tls_port, self.local_port = free_port(), free_port()
        replacements = {
            "/etc/mosquitto/certs/ca.pem": str(self.ca_file),
            "/etc/mosquitto/certs/broker.pem": str(certificate),
            "/etc/mosquitto/certs/broker.key": str(key),
            "/etc/mosquitto/passwd": str(self.password_file),
            "/etc/mosquitto/edgeeye.acl": str(self.acl_file),
            "listener 8883": f"listener {self.tls_port} 127.0.0.1",
            "listener 1883 localhost": f"listener {self.local_port} 127.0.0.1",
        }
        lines = []
        for line in EXAMPLE_CONFIG.read_text().splitlines():
            for old, new in replacements.items():
                line = line.replace(old, new)
            lines.append(line)
        unreplaced = [
            line for line in lines if "/etc/mosquitto" in line and not line.startswith("#")
        ]
        assert not unreplaced, f"edgeeye.conf names files this rig does not make: {unreplaced}"
        # LocalBroker's own listener (``port``, which start() waits for) comes after these,
        # under the same global rules: only the snippet's allow_anonymous applies.
        self._prelude = tuple(lines)
        self._listener_options = ("allow_anonymous false",)


def broker_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed with its key: (ca, cert, key)."""
    files = make_certificates(folder)
    return files["ca"], files["server"], files["server-key"]


class UserClient:
    """A paho client logged in as ``user``, recording what it receives on ``topics``.

    MQTT 5, so an acknowledgement carries the broker's verdict (135, not authorised, for
    a publish its ACL dropped); the tests still judge by what a subscriber receives."""

    def __init__(
        self,
        broker: AclBroker,
        user: str | None,
        topics: Iterable[str] = (),
        *,
        port: int | None = None,
        ca_file: Path | None = None,
    ) -> None:
        """``user`` None connects anonymously; ``ca_file`` speaks TLS (to ``port``)."""
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.received: Messages = []
        self._acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        wanted = [(topic, 1) for topic in topics]
        ready = threading.Event()  # connected (or refused), and subscribed if it has topics
        refused: list[ReasonCode] = []

        def on_connect(
            client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
        ) -> None:
            if reason.is_failure:
                refused.append(reason)
            if wanted and not refused:
                client.subscribe(wanted)
            else:
                ready.set()

        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5
        )
        if user is not None:
            self._client.username_pw_set(user, broker.passwords[user])
        if ca_file is not None:
            self._client.tls_set(ca_certs=str(ca_file))
        self._client.on_connect = on_connect
        self._client.on_subscribe = lambda *_: ready.set()
        self._client.on_message = lambda _c, _u, message: self.messages.put(message)
        self._client.on_publish = self._on_publish
        self._client.connect(broker.host, port or broker.port)
        self._client.loop_start()
        if not ready.wait(10):
            self.close()
            raise TimeoutError(f"{user} did not connect and subscribe")
        if refused:
            self.close()
            raise ConnectionRefusedError(f"{user or 'anonymous'}: {refused[0]}")

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object
    ) -> None:
        with self._acked:
            self._acks[mid] = reason
            self._acked.notify_all()

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the broker's acknowledgement's reason code."""
        mid = self._client.publish(topic, payload, qos=1, retain=retain).mid
        with self._acked:
            if not self._acked.wait_for(lambda: mid in self._acks, 10):
                raise TimeoutError(f"no acknowledgement for {topic}")
            return self._acks.pop(mid)

    def collect(self, until: Callable[[Messages], bool], timeout: float) -> Messages:
        """Gather messages until ``until(received)`` is true or ``timeout`` passes."""
        return collect(self.messages, self.received, until, timeout)

    def on(self, topic: str) -> Messages:
        return [message for message in self.received if message.topic == topic]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

"""paho-mqtt clients as configured: protocol, credentials, TLS, and MQTT 5 properties.

Used by the appliance's publisher and by ``edgeeye watch``, so both speak to the broker the
same way.  Errors name the config key and the file, never a password.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeeye.config.files import check_tls_files, read_password
from edgeeye.config.sections import MqttConfig, MqttTlsConfig
from edgeeye.errors import ConfigError

JSON = "application/json"
JPEG = "image/jpeg"
TEXT = "text/plain"


def make_client(settings: MqttConfig, client_id: str = "") -> mqtt.Client:
    """A VERSION2-callback client speaking ``mqtt.protocol``, with credentials and TLS set."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311,
    )
    apply_credentials(client, settings)
    return client


def message_properties(
    settings: MqttConfig,
    content_type: str,
    expires: bool = False,
    user: tuple[tuple[str, str], ...] = (),
    will: bool = False,
    kind: type[Properties] = Properties,
) -> Properties | None:
    """MQTT 5 PUBLISH properties (None on 3.1.1, which has none): the content type, UTF-8
    for text, ``mqtt.message_expiry_s`` for messages that go stale, and user properties."""
    if settings.protocol != "5":
        return None
    properties = kind(PacketTypes.WILLMESSAGE if will else PacketTypes.PUBLISH)
    properties.ContentType = content_type
    if content_type != JPEG:
        properties.PayloadFormatIndicator = 1
    if expires and settings.message_expiry_s:
        properties.MessageExpiryInterval = settings.message_expiry_s
    if user:
        properties.UserProperty = [(mqtt_text(key), mqtt_text(value)) for key, value in user]
    return properties


class _PackedOnce(Properties):
    """Properties that are packed at their first message and reused: paho packs them anew
    for every message, in time that grows with the square of the properties it knows."""

    def pack(self) -> bytes:
        packed: bytes | None = self.__dict__.get("_packed")
        if packed is None:
            packed = super().pack()  # type: ignore[no-untyped-call]
            object.__setattr__(self, "_packed", packed)  # paho's __setattr__ takes only names
        return packed


class PropertiesCache:
    """The PUBLISH properties of each kind of message, built once per config.

    Building paho's ``Properties`` costs about as much as the rest of a publish; a
    ``Properties`` without user properties is never changed after it is made, so one can
    go with every message of its kind.
    """

    def __init__(self, settings: MqttConfig) -> None:
        self._settings = settings
        self._made: dict[tuple[str, bool], Properties | None] = {}

    def get(self, content_type: str, expires: bool = False) -> Properties | None:
        key = (content_type, expires)
        if key not in self._made:
            self._made[key] = message_properties(
                self._settings, content_type, expires, kind=_PackedOnce
            )
        return self._made[key]


#: Longest user property value we send; MQTT allows 65,535 bytes, a label needs far less.
MAX_PROPERTY_CHARS = 256


def mqtt_text(value: str) -> str:
    """``value`` as an MQTT UTF-8 string a broker accepts: control characters (which
    mosquitto refuses as malformed, dropping the connection), surrogates and Unicode
    non-characters escaped as ``\\uXXXX``, and at most ``MAX_PROPERTY_CHARS`` long."""
    return "".join(
        f"\\u{ord(char):04x}" if _not_for_mqtt(char) else char
        for char in value[:MAX_PROPERTY_CHARS]
    )


def _not_for_mqtt(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or 0xFDD0 <= code <= 0xFDEF
        or (code & 0xFFFE) == 0xFFFE
    )


def drop_link(client: mqtt.Client) -> None:
    """Shut the client's socket under it: the thread serving it sees the connection lost
    and reconnects as after any other loss (``disconnect()`` would end the session)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):  # a TLS socket is one too
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def apply_credentials(client: mqtt.Client, settings: MqttConfig) -> None:
    """Username, password and TLS as configured; errors name the key and file."""
    if settings.username:
        client.username_pw_set(settings.username, read_password(settings))
    if settings.tls is not None:
        _set_tls(client, settings.tls)


def _set_tls(client: mqtt.Client, tls: MqttTlsConfig) -> None:
    check_tls_files(tls)
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file),
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"mqtt.tls: {tls.ca_file}: cannot use: {exc}") from None

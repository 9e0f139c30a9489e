"""paho-mqtt clients as configured: protocol, credentials, TLS, and MQTT 5 properties.

Used by the appliance's publisher and by ``edgeeye watch``, so both speak to the broker the
same way.  Errors name the config key and the file, never a password.
"""

from __future__ import annotations

import os
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeeye.config.sections import MqttConfig, MqttTlsConfig
from edgeeye.errors import ConfigError

JSON = "application/json"
JPEG = "image/jpeg"
TEXT = "text/plain"


def make_client(settings: MqttConfig, client_id: str = "") -> mqtt.Client:
    """A VERSION2-callback client speaking ``mqtt.protocol``, with credentials and TLS set."""
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
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
) -> Properties | None:
    """MQTT 5 PUBLISH properties (None on 3.1.1, which has none): the content type, UTF-8
    for text, ``mqtt.message_expiry_s`` for messages that go stale, and user properties."""
    if settings.protocol != "5":
        return None
    properties = Properties(PacketTypes.WILLMESSAGE if will else PacketTypes.PUBLISH)
    properties.ContentType = content_type
    if content_type != JPEG:
        properties.PayloadFormatIndicator = 1
    if expires and settings.message_expiry_s:
        properties.MessageExpiryInterval = settings.message_expiry_s
    if user:
        properties.UserProperty = list(user)
    return properties


def apply_credentials(client: mqtt.Client, settings: MqttConfig) -> None:
    """Username, password and TLS as configured; errors name the key and file."""
    if settings.username:
        client.username_pw_set(settings.username, _read_password(settings))
    if settings.tls is not None:
        _set_tls(client, settings.tls)


def check_broker_files(settings: MqttConfig) -> None:
    """Raise the error a start would give for an unreadable password or TLS file."""
    _read_password(settings)
    if settings.tls is not None:
        _check_tls_files(settings.tls)


def _read_password(settings: MqttConfig) -> str:
    """The password's first line; errors name the file, never its content."""
    path = settings.password_path()
    if path is None:
        return ""
    key = "mqtt.password_credential" if settings.password_credential else "mqtt.password_file"
    try:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot read: {exc.strerror}") from None


def _check_tls_files(tls: MqttTlsConfig) -> None:
    for key, path in (
        ("ca_file", tls.ca_file),
        ("cert_file", tls.cert_file),
        ("key_file", tls.key_file),
    ):
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"mqtt.tls.{key}: {path}: cannot read")


def _set_tls(client: mqtt.Client, tls: MqttTlsConfig) -> None:
    _check_tls_files(tls)
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file),
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"mqtt.tls: {tls.ca_file}: cannot use: {exc}") from None

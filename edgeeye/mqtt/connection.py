"""The state of our connection to the broker, said once per outage, in words that help.

The network loop reconnects by paho's backoff rule (``mqtt.network``); this sets the
delays, decides what to log, and turns
the refusals no retry can fix (bad credentials, an untrusted certificate) into
``BrokerRefusal`` events for the supervisor, which stops the appliance with exit 7.
"""

from __future__ import annotations

import logging
import random
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edgeeye.config.sections import MqttConfig
from edgeeye.mqtt.acknowledgements import Deliveries
from edgeeye.mqtt.client import drop_link
from edgeeye.mqtt.network import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerRefusal:
    """The broker refused us for a reason no retry can fix; ``line`` says which and why."""

    line: str


#: CONNACK reasons no retry can fix (MQTT 5 codes; paho maps 3.1.1's 4 and 5 to them).
_REFUSED_FOR_GOOD = {134, 135}  # bad user name or password, not authorized


class BrokerLink:
    """paho's connection callbacks' bookkeeping, for one client."""

    def __init__(
        self, settings: MqttConfig, refused: Callable[[BrokerRefusal], None], backoff: Backoff
    ) -> None:
        self._settings = settings
        self._refused = refused
        self._backoff = backoff
        self._unreachable_logged = False
        self._connected_once = False  # since the last loss: a disconnect before it is a refusal

    @property
    def broker(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def connected(self, reason_code: ReasonCode) -> bool:
        """From on_connect: True if the broker accepted us."""
        if reason_code.is_failure:
            line = f"broker {self.broker} refused the connection: {reason_code}"
            if reason_code.value in _REFUSED_FOR_GOOD:
                # Retrying cannot fix credentials: stop, and let the supervisor say why.
                self._refused(BrokerRefusal(f"{line} (check mqtt.username and the password)"))
            else:
                log.error("%s; retrying", line)
            return False
        log.info("connected to broker %s", self.broker)
        self._backoff.accepted()
        self._unreachable_logged = False
        self._connected_once = True
        return True

    def connect_failed(self, _client: mqtt.Client, _userdata: object) -> None:
        """paho's on_connect_fail, called from inside its ``except OSError``."""
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLCertVerificationError):
            # Retrying cannot make our CA trust this broker: stop, and say which broker.
            self._refused(
                BrokerRefusal(
                    f"broker {self.broker}: TLS certificate not trusted:"
                    f" {error.verify_message} (check mqtt.tls.ca_file)"
                )
            )
            return
        # The network loop retries with backoff; say so once per outage, not at every try.
        if not self._unreachable_logged:
            self._unreachable_logged = True
            reason = (error.strerror or str(error)) if isinstance(error, OSError) else "unknown"
            hint = ""
            # A plain MQTT broker resets a TLS hello, or answers it with garbage.
            if self._settings.tls and isinstance(error, ssl.SSLError | ConnectionResetError):
                hint = " (is it a plain MQTT port? see mqtt.tls)"
            log.warning(
                "cannot reach broker %s: %s%s; retrying in the background",
                self.broker,
                reason,
                hint,
            )

    def disconnected(self, reason_code: ReasonCode) -> None:
        """From on_disconnect, unless we are the ones leaving."""
        if self._connected_once:
            self._connected_once = False
            log.warning("lost the broker %s (%s); reconnecting", self.broker, reason_code)
            self.restart_backoff()
        elif not self._unreachable_logged:
            # The TCP connection worked but the broker hung up before answering: most often
            # a TLS port spoken to in plain MQTT.  Once per outage, not at every retry.
            self._unreachable_logged = True
            log.warning(
                "broker %s closed the connection before accepting it (%s): is it a TLS port"
                " (see mqtt.tls)? retrying in the background",
                self.broker,
                reason_code,
            )

    def drop_if_silent(self, client: mqtt.Client, deliveries: Deliveries, now: float) -> None:
        """A half-open link (packets silently lost, the TCP connection still up) is seen by
        paho's keepalive only after about twice ``mqtt.keepalive``.  Results waiting that
        long without an acknowledgement say the same sooner: the socket is shut, the network
        loop reconnects with backoff, and meanwhile results go to the outbox."""
        silent = deliveries.silent_for(now)
        if silent < self._settings.keepalive or not client.is_connected():
            return
        log.warning(
            "no acknowledgement from the broker for %.0f s (%d messages waiting);"
            " dropping the link and reconnecting",
            silent,
            deliveries.unacknowledged,
        )
        deliveries.heard(now)
        drop_link(client)

    def restart_backoff(self) -> None:
        # The delay doubles per failed attempt; a random start per outage keeps a fleet from
        # reconnecting in lockstep after the broker restarts.
        self._backoff.restart(random.uniform(0.5, 1.5), self._settings.reconnect_max_s)

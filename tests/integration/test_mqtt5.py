"""MQTT 5 and 3.1.1 on the wire: properties, QoS, and what a subscriber of each sees."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from tests.support.appliance import run_to_end
from tests.support.configs import photo_config
from tests.support.schemas import assert_matches_schema


def _run(tmp_path, broker, test_data, appliance_factory, subscriber, mqtt_extra: str) -> None:
    source = f"{{type: images, path: {test_data}/images, loop: false}}"
    config = photo_config(tmp_path, broker.port, test_data, source, mqtt=mqtt_extra)
    run_to_end(appliance_factory, config, subscriber)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt5_messages_carry_content_type_expiry_and_the_configured_qos(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory, qos
):
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#", protocol=mqtt.MQTTv5, qos=2)
    extra = f"protocol: 5, qos: {qos}, message_expiry_s: 120"
    _run(tmp_path, broker, test_data, appliance_factory, subscriber, extra)
    results = subscriber.on("/result")
    assert len(results) == 5
    for message in results:
        assert message.qos == qos  # the subscription allows 2: this is what we sent
        properties = message.properties
        assert properties.ContentType == "application/json"
        assert properties.PayloadFormatIndicator == 1
        # The broker forwards the remaining lifetime: at most what we set, and not expired.
        assert 100 <= properties.MessageExpiryInterval <= 120
        assert_matches_schema("result", message.payload)
    status = subscriber.on("/status")
    assert [m.payload for m in status] == [b"online", b"offline"]
    assert {m.properties.ContentType for m in status} == {"text/plain"}
    # What must outlive a quiet broker never expires.
    for leaf in ("/status", "/stats", "/settings"):
        for message in subscriber.on(leaf):
            assert not hasattr(message.properties, "MessageExpiryInterval"), leaf


def test_mqtt311_still_works_and_sends_no_properties(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    subscriber = subscriber_factory(broker, "edgeeye/cam1/#", protocol=mqtt.MQTTv5)
    _run(tmp_path, broker, test_data, appliance_factory, subscriber, "protocol: 3.1.1, qos: 1")
    results = subscriber.on("/result")
    assert sorted(m.payload.count(b'"label"') > 0 for m in results) == [True] * 5
    for message in results:
        assert message.qos == 1
        assert not hasattr(message.properties, "ContentType")
        assert not hasattr(message.properties, "MessageExpiryInterval")
    assert [m.payload for m in subscriber.on("/status")] == [b"online", b"offline"]

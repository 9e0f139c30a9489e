"""Discovery node ids: one per device id, and unchanged for every id without '.'.

Two devices sharing a node share (and ``edgeeye forget`` clears) each other's Home
Assistant entities; an id whose node changed loses its entities at the upgrade.
"""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from edgeeye.config.app import AppConfig
from edgeeye.config.sections import RemoteControlConfig
from edgeeye.config.topic_names import TOPIC_LEVEL
from edgeeye.homeassistant.discovery import discovery_messages, legacy_node_id, node_id
from edgeeye.homeassistant.entities import BASE_ENTITIES

#: Home Assistant's rule for the node id level of a discovery topic.
HOME_ASSISTANT_NODE = re.compile(r"^[A-Za-z0-9_-]+$")

valid_ids = st.from_regex(TOPIC_LEVEL, fullmatch=True)
# Ids from the characters the escape is about, so near-collisions (cam.1, cam_1, cam-d1,
# cam--1, cam.-1...) are generated often, not once in a million.
tricky_ids = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("ad1"),
    st.text(alphabet="ad1._-", max_size=12),
)
device_ids = st.one_of(valid_ids, tricky_ids)


def _node(device_id: str) -> str:
    return node_id(AppConfig(device_id=device_id))


def _device_id_of(node: str) -> str:
    """The inverse of node_id: that one exists is what makes node_id injective."""
    if node.startswith("edgeeye_"):
        return node.removeprefix("edgeeye_")
    escaped, device_id, position = node.removeprefix("edgeeye-"), [], 0
    while position < len(escaped):
        if escaped[position] == "-":
            device_id.append({"-": "-", "d": "."}[escaped[position + 1]])
            position += 2
        else:
            device_id.append(escaped[position])
            position += 1
    return "".join(device_id)


@given(device_ids)
def test_the_device_id_can_be_read_back_from_its_node(device_id: str) -> None:
    node = _node(device_id)
    assert HOME_ASSISTANT_NODE.match(node), node
    assert _device_id_of(node) == device_id


@given(st.lists(tricky_ids, unique=True, min_size=2, max_size=40))
def test_no_two_device_ids_share_a_node(fleet: list[str]) -> None:
    assert len({_node(device_id) for device_id in fleet}) == len(fleet)


@given(device_ids.filter(lambda device_id: "." not in device_id))
def test_an_id_without_a_dot_keeps_the_node_it_always_had(device_id: str) -> None:
    config = AppConfig(device_id=device_id)
    assert node_id(config) == legacy_node_id(config) == f"edgeeye_{device_id}"


def test_the_ids_that_used_to_collide_are_apart_and_keep_their_old_node_for_forget() -> None:
    dotted, underscored = AppConfig(device_id="cam.1"), AppConfig(device_id="cam_1")
    assert node_id(dotted) == "edgeeye-cam-d1"
    assert node_id(underscored) == "edgeeye_cam_1" == legacy_node_id(dotted)
    dotted_topics = {m.topic for m in discovery_messages(dotted, "m")}
    underscored_topics = {m.topic for m in discovery_messages(underscored, "m")}
    # Every entity's own topic (handed over) and the device's.
    assert len(dotted_topics) == len(underscored_topics) == len(BASE_ENTITIES) + 1
    assert not dotted_topics & underscored_topics


@given(device_ids)
def test_every_config_asks_for_an_entity_id_home_assistant_accepts(device_id: str) -> None:
    every_control = RemoteControlConfig(enabled=True, allow=("min_score", "publish", "snapshot"))
    config = AppConfig(device_id=device_id, remote_control=every_control)
    (device,) = [
        m for m in discovery_messages(config, "m") if m.topic.startswith("homeassistant/device/")
    ]
    for component in json.loads(device.payload)["components"].values():
        entity_id = component["default_entity_id"]
        assert re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", entity_id), entity_id

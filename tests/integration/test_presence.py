"""Presence, one message per change (issue 17, item 3): a scripted sequence of real
photographs through the real appliance and a real mosquitto turns each configured label
on after its frames in a row and off once off_s pass without it, with one retained state
and one event per change."""

from __future__ import annotations

import json

from tests.support.appliance import run_to_end
from tests.support.configs import detector_config, photo_sequence
from tests.support.schemas import assert_matches_schema

#: At 5 frames a second: Grace Hopper for 0.8 s, the cat for 0.8 s, then the parrot for 2.4.
SCENE = ["grace_hopper.bmp"] * 4 + ["cat.bmp"] * 4 + ["parrot.jpg"] * 12
PRESENCE = (
    "presence:\n"
    "  - {label: person, frames: 3, off_s: 1.0}\n"
    "  - {label: cat, frames: 2, off_s: 1.0, id: sofa_cat}\n"
    "  - {label: dog, frames: 1, off_s: 1.0}\n"
)


def test_a_scripted_scene_turns_presence_on_and_off_once_each(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    folder = photo_sequence(tmp_path / "scene", test_data, SCENE)
    config = detector_config(
        tmp_path,
        broker.port,
        test_data,
        f"{{type: images, path: {folder}, loop: false, fps: 5}}",
        PRESENCE,
        workers=1,
    )
    subscriber = subscriber_factory(broker)
    run_to_end(appliance_factory, config, subscriber)

    def states(key: str) -> list[tuple[str, int | None, bool]]:
        return [
            (json.loads(m.payload)["state"], json.loads(m.payload)["sequence"], m.retain)
            for m in subscriber.on(f"/presence/{key}")
        ]

    def events(key: str) -> list[tuple[str, int | None]]:
        return [
            (e["event_type"], e["sequence"]) for e in subscriber.json_on(f"/presence/{key}/event")
        ]

    for message in subscriber.received:
        if "/presence/" in message.topic:
            kind = "presence_event" if message.topic.endswith("/event") else "presence"
            assert_matches_schema(kind, message.payload)
    # Off at connect (nothing is known yet), on at the third Hopper, off after the last.
    assert [(s, q) for s, q, _ in states("person")] == [("off", None), ("on", 2), ("off", 3)]
    assert events("person") == [("arrived", 2), ("departed", 3)]
    assert [(s, q) for s, q, _ in states("sofa_cat")] == [("off", None), ("on", 5), ("off", 7)]
    assert events("sofa_cat") == [("arrived", 5), ("departed", 7)]
    assert states("dog") == [("off", None, False)] and events("dog") == []
    # Retained as sent: the broker keeps each entry's last state for newcomers.
    late = subscriber_factory(broker)
    retained = late.collect(lambda r: sum("/presence/" in m.topic for m in r) >= 3, 5)
    by_topic = {m.topic: json.loads(m.payload) for m in retained if "/presence/" in m.topic}
    assert {t: d["state"] for t, d in by_topic.items()} == {
        "edgeeye/cam1/presence/person": "off",
        "edgeeye/cam1/presence/sofa_cat": "off",
        "edgeeye/cam1/presence/dog": "off",
    }
    person_on = json.loads(subscriber.on("/presence/person")[1].payload)
    (third_hopper,) = [r for r in subscriber.json_on("/result") if r["sequence"] == 2]
    assert person_on["count"] == third_hopper["counts"]["person"]
    assert person_on["score"] == third_hopper["labels"][0]["score"]
    assert (person_on["label"], person_on["region"]) == ("person", None)

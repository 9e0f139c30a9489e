"""The schemas generated from pydantic models (edgeeye.publish.schemas) are the committed ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from edgeeye.config.sections import PublishConfig
from edgeeye.publish.payloads import settings_payload
from edgeeye.publish.policy import LiveSettings
from edgeeye.publish.schemas import GENERATED, main, render

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_committed_schema_is_the_generated_one(name: str) -> None:
    committed = (REPO / "schemas" / name).read_text(encoding="utf-8")
    assert committed == render(name), (
        f"schemas/{name} is not what its model gives: run python -m edgeeye.publish.schemas"
        " and commit the result"
    )


def test_settings_schema_takes_a_settings_document_and_refuses_a_partial_one() -> None:
    schema = json.loads((REPO / "schemas" / "settings.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    settings = LiveSettings(
        min_score=0.2,
        publish=PublishConfig(mode="on_change", score_threshold=0.5, include=("cat",)),
        snapshot_enabled=True,
    )
    document = json.loads(settings_payload("cam1", settings, remote_control=True))
    assert list(validator.iter_errors(document)) == []
    del document["publish"]["heartbeat_s"]
    assert not validator.is_valid(document)
    document = json.loads(settings_payload("cam1", settings, remote_control=True))
    assert not validator.is_valid({**document, "colour": "red"})


def test_generator_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert "run python -m edgeeye.publish.schemas" in capsys.readouterr().out
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    for name in GENERATED:
        assert (tmp_path / name).read_text(encoding="utf-8") == render(name)

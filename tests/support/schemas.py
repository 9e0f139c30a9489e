"""Published messages checked against the committed JSON schemas (schemas/)."""

from __future__ import annotations

import json

from tests.support.paths import REPO


def assert_matches_schema(leaf: str, payload: bytes) -> None:
    """A message on ``<prefix>/<device>/<leaf>`` validates against ``schemas/<leaf>.schema.json``.

    status is text, snapshot a JPEG (checked as latin-1 text, as its schema says), the rest
    JSON."""
    from jsonschema import Draft202012Validator, FormatChecker

    schema = json.loads((REPO / "schemas" / f"{leaf}.schema.json").read_text())
    if leaf == "status":
        document = payload.decode()
    elif leaf == "snapshot":
        document = payload.decode("latin-1")
    else:
        document = json.loads(payload)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors = [error.message[:200] for error in validator.iter_errors(document)]
    assert not errors, (leaf, payload[:300], errors)

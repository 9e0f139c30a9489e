"""Writes the JSON Schemas in ``schemas/`` that come from a pydantic model (the others
there are written by hand): ``python -m edgeeye.publish.schemas``; with ``--check`` it only
names the files that differ (exit status 1), as ``tests/unit/test_schemas_generated.py`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from edgeeye.publish.payloads import SettingsDocument

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

#: File name: the model, and the keys that head the schema (replacing its title, description).
GENERATED: dict[str, tuple[type[BaseModel], dict[str, str]]] = {
    "settings.schema.json": (
        SettingsDocument,
        {
            "$id": "https://github.com/edgeeye/edgeeye/schemas/settings.schema.json",
            "title": "edgeeye live settings",
            "description": "The settings in force, on <topic_prefix>/<device_id>/settings"
            " (QoS 1, retained), at every connect and after each change (a config reload"
            " or a remote command on set/...).",
        },
    ),
}


class PublishedDocument(GenerateJsonSchema):
    """A published document is dumped whole: a field with a default is there all the same."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode != "serialization":
            return super().field_is_required(field, total)
        return field.get("serialization_exclude_if") is None


def render(name: str) -> str:
    """The text of ``schemas/<name>``: 2-space JSON, keywords in pydantic's sorted order
    (properties in the document's order), and a final newline."""
    model, head = GENERATED[name]
    schema = model.model_json_schema(mode="serialization", schema_generator=PublishedDocument)
    body = {key: value for key, value in schema.items() if key not in ("title", "description")}
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **head, **body}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeeye.publish.schemas")
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    stale = 0
    for name in GENERATED:
        path: Path = args.dir / name
        text = render(name)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale += 1
            print(f"{path} is out of date: run python -m edgeeye.publish.schemas")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

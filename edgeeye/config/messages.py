"""Validation errors as one line: the key path, its YAML line, the value, what is allowed.

Shared by the config file (``config.load_config``) and remote settings (``control``), so a
bad value reads the same wherever it came from.
"""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ValidationError


def describe(
    exc: ValidationError,
    label: str,
    root: yaml.Node | None,
    overridden: dict[tuple[str, ...], str],
    root_model: type[BaseModel],
) -> str:
    """One line for the first error: where, what was given, what is allowed."""
    error = exc.errors(include_url=False)[0]
    loc = _yaml_path(error["loc"])
    env_var = overridden.get(tuple(str(part) for part in loc))
    if env_var is not None:
        where = f"{label}: {'.'.join(str(part) for part in loc)} (from ${env_var})"
    else:
        where = key_location(label, root, loc)
    message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key (allowed: {_allowed_keys(root_model, loc)})"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = (error.get("ctx") or {}).get("tag", None)
        where = key_location(label, root, (*loc, "type"))
        if error["type"] == "union_tag_not_found":
            return f"{where}: required key is missing (one of {_source_types()})"
        return f"{where}: {tag!r} is not allowed: must be one of {_source_types()}"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    if isinstance(error["input"], dict):  # a rule across keys: the keys say it, not the dict
        return f"{where}: {message}"
    return f"{where}: {error['input']!r} is not allowed: {message}"


def key_location(label: str, root: yaml.Node | None, loc: tuple[int | str, ...]) -> str:
    """``FILE: line N: key.path``, or without the line where the key is not in the file."""
    key = ".".join(str(part) for part in loc) or "<top level>"
    line = _line_of(root, loc)
    return f"{label}: line {line}: {key}" if line else f"{label}: {key}"


def _yaml_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's own tags (union members, discriminator values) from an error path."""
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and (
            (part in ("synthetic", "images", "picamera2", "video") and out[-1:] == ["source"])
            or part in ("int", "literal['auto']", "constrained-int")
            or part.startswith(("function-", "literal["))
        ):
            continue
        out.append(part)
    return tuple(out)


def _allowed_keys(root_model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    model = root_model
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return "see configs/edgeeye.yaml"
    return ", ".join(model.model_fields)


def _source_types() -> str:
    return "synthetic, images, picamera2, video"


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based YAML line of a key path, or of its nearest existing parent."""
    node = root
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line

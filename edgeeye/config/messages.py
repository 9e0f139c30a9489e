"""Validation errors as one line: the key path, its YAML line, the value, what is allowed.

Shared by the config file (``config.load_config``) and remote settings (``control``), so a
bad value reads the same wherever it came from.

The key path and what is allowed come from the models: an error's ``loc`` is walked along
the models' fields, and an entry that is neither a field of the model reached so far nor a
list index is pydantic's own (the member of a union it tried, a validator); it is left out.
A tagged union's member is the one whose ``Literal`` discriminator has the tag's value.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, ValidationError
from pydantic.fields import FieldInfo

from edgeeye.config.excerpts import EXCERPT_CHARS, clip, excerpt

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class _Spot:
    """How far a walk along ``loc`` has got: the type there, and the key that picks the
    member when it is a tagged union (its field's ``discriminator``)."""

    annotation: object
    discriminator: str | None = None


def describe(
    exc: ValidationError,
    label: str,
    root: yaml.Node | None,
    overridden: dict[tuple[str, ...], str],
    root_model: type[BaseModel],
) -> str:
    """One line for the first error: where, what was given, what is allowed."""
    error = exc.errors(include_url=False)[0]
    kind = error["type"]
    if kind == "extra_forbidden":  # the last entry is the key the model does not have
        parent, spot = _walk(root_model, error["loc"][:-1])
        loc: Loc = (*parent, error["loc"][-1])
    else:
        loc, spot = _walk(root_model, error["loc"])
    env_var = overridden.get(tuple(str(part) for part in loc))
    if env_var is not None:
        where = f"{label}: {key_path(loc)} (from ${env_var})"
    else:
        where = key_location(label, root, loc)
    message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    message = clip(message, 3 * EXCERPT_CHARS)  # pydantic's own words may quote the input
    if kind == "extra_forbidden":
        return f"{where}: unknown key (allowed: {_allowed_keys(spot)})"
    tags = _tags(spot)
    if kind in ("union_tag_invalid", "union_tag_not_found") and spot.discriminator and tags:
        key = spot.discriminator
        where = key_location(label, root, (*loc, key))
        choices = ", ".join(str(value) for value in tags)
        if kind == "union_tag_not_found":
            return f"{where}: required key is missing (one of {choices})"
        given = error["input"]
        tag = given.get(key) if isinstance(given, Mapping) else (error.get("ctx") or {}).get("tag")
        return f"{where}: {excerpt(tag)} is not allowed: must be one of {choices}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "invalid_key":  # YAML reads `1:` or `null:` as a number or None, not text
        return f"{where}: keys must be text"
    if isinstance(error["input"], dict):  # a rule across keys: the keys say it, not the dict
        return f"{where}: {message}"
    return f"{where}: {excerpt(error['input'])} is not allowed: {message}"


def _key_text(part: int | str) -> str:
    """One key of a path as written, unless it is long or has line breaks in it."""
    if isinstance(part, str) and part.isprintable() and len(part) <= EXCERPT_CHARS // 2:
        return part
    return str(part) if isinstance(part, int) else excerpt(part, EXCERPT_CHARS // 2)


def key_path(loc: Sequence[int | str]) -> str:
    """``mqtt.port``; hostile keys (thousands of characters, newlines) are cut short."""
    return ".".join(_key_text(part) for part in loc)


def key_location(label: str, root: yaml.Node | None, loc: tuple[int | str, ...]) -> str:
    """``FILE: line N: key.path``, or without the line where the key is not in the file."""
    key = key_path(loc) or "<top level>"
    line = _line_of(root, loc)
    return f"{label}: line {line}: {key}" if line else f"{label}: {key}"


def _walk(root_model: type[BaseModel], loc: Loc) -> tuple[Loc, _Spot]:
    """The keys and indexes of ``loc`` that are the user's, and the type they lead to."""
    path: list[int | str] = []
    spot = _Spot(root_model)
    for part in loc:
        keep, spot = _step(spot, part)
        if keep:
            path.append(part)
    return tuple(path), spot


def _step(spot: _Spot, part: int | str) -> tuple[bool, _Spot]:
    """Follow one ``loc`` entry: whether it is a key or index of the input, and the spot
    after it.  A tagged union's tag selects its member; other strings that are no field
    here are pydantic's, and leave the spot as it is."""
    for value, member in _tags(spot).items():
        if part == value or part == str(value):
            return False, _Spot(member)
    for option in _options(spot.annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            field = _field(option, part) if isinstance(part, str) else None
            if field is not None:
                return True, _spot_of(field.annotation, field.discriminator)
        elif isinstance(part, int) and (item := _item(option, part)) is not None:
            return True, item
        elif isinstance(part, str) and (value := _mapped(option)) is not None:
            return True, value  # a key of the input's mapping (a region's name, say)
    return isinstance(part, int), spot


def _spot_of(annotation: object, discriminator: object = None) -> _Spot:
    """A type with its ``Annotated`` layers taken off (keeping a discriminator they set)."""
    while get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        for meta in metadata:
            if isinstance(meta, FieldInfo) and meta.discriminator is not None:
                discriminator = meta.discriminator
            elif isinstance(meta, Discriminator):
                discriminator = meta
    if isinstance(discriminator, Discriminator):
        discriminator = discriminator.discriminator
    return _Spot(annotation, discriminator if isinstance(discriminator, str) else None)


def _options(annotation: object) -> list[object]:
    """The types a value may have here: a union's members (not None), else the type."""
    annotation = _spot_of(annotation).annotation
    if get_origin(annotation) in (Union, types.UnionType):
        members = (_options(member) for member in get_args(annotation))
        return [option for options in members for option in options]
    return [] if annotation is type(None) else [annotation]


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    """The model's field a key of the input names (its name, or its alias)."""
    if key in model.model_fields:
        return model.model_fields[key]
    return next(
        (f for f in model.model_fields.values() if key in (f.alias, f.validation_alias)), None
    )


def _item(annotation: object, index: int) -> _Spot | None:
    """The spot of item ``index`` in a tuple or list type (None: not a sequence type)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _spot_of(args[0])
        return _spot_of(args[index]) if index < len(args) else _Spot(object)
    if isinstance(origin, type) and issubclass(origin, Sequence | set | frozenset):
        return _spot_of(args[0] if args else object)
    return None


def _mapped(annotation: object) -> _Spot | None:
    """The spot of a value in a ``dict`` type (None: not a mapping type)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
        return _spot_of(args[1])
    return None


def _tags(spot: _Spot) -> dict[object, type[BaseModel]]:
    """A tagged union's members by the values of their ``Literal`` discriminator field."""
    if spot.discriminator is None:
        return {}
    tags: dict[object, type[BaseModel]] = {}
    for member in _options(spot.annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = _field(member, spot.discriminator)
            if field is not None and get_origin(field.annotation) is Literal:
                tags.update(dict.fromkeys(get_args(field.annotation), member))
    return tags


def _allowed_keys(spot: _Spot) -> str:
    """The keys of the model at ``spot``, as the input spells them."""
    models = [
        m for m in _options(spot.annotation) if isinstance(m, type) and issubclass(m, BaseModel)
    ]
    if len(models) != 1:
        return "see configs/edgeeye.yaml"
    return ", ".join(field.alias or name for name, field in models[0].model_fields.items())


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

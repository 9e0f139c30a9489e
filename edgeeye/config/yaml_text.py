"""The config file read as YAML with the parts of YAML that can hurt us refused up front.

A config is a few kilobytes of plain mappings, so four things YAML allows are refused:

- aliases (``*name``): a 464-byte "billion laughs" file expands into gigabytes, and
  nothing in the config needs to repeat a value; refused when the alias is met, before
  anything is expanded.  An anchor (``&name``) alone is harmless and stays allowed.
- nesting deeper than ``MAX_DEPTH`` collections: the config's deepest key is three levels
  down, and a 3000-level file would otherwise recurse through the composer until Python
  gives up; refused while composing, so that recursion never starts.
- a key given twice in one mapping: YAML keeps the later value without a word, and a
  config edited by hand over SSH repeats a key easily; refused naming the key and both
  lines.
- files over ``MAX_BYTES``: read no further, so ``/dev/zero`` or a log file named by
  mistake costs nothing.  PyYAML's pure-Python parser (the only one that lets us refuse
  aliases as they come) takes about 2 s for 64 KiB of dense YAML on a slow machine, and a
  reload blocks the supervisor that long; the fully commented configs/edgeeye.yaml is 6 KiB.

The file is composed once; the same node tree gives the values and, for error messages,
the line of each key.  Every failure is a ``ConfigError`` of one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from edgeeye.config.excerpts import clip
from edgeeye.errors import ConfigError

MAX_DEPTH = 32
MAX_BYTES = 64 * 1024
ALIAS_REFUSED = "YAML aliases (*name) are not allowed in the config"


class _Refused(yaml.YAMLError):
    """What the loader refuses, with the 1-based line it was found on."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting while it composes."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        is_alias = self.check_event(yaml.AliasEvent)  # (peeks: sets current_event)
        line: int = self.current_event.start_mark.line + 1
        if is_alias:
            raise _Refused(line, ALIAS_REFUSED)
        nests = self.check_event(yaml.CollectionStartEvent)
        if nests:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(line, f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            if nests:
                self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        """As SafeLoader's, but a scalar Python cannot convert (``2001-02-30``, a
        5000-digit integer, ``!!int x``) is a YAML error with its line, not a ValueError."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from exc


def read_yaml(path: Path, label: str) -> tuple[object, yaml.Node | None]:
    """The file's value and its node tree; raises ConfigError (``label`` names the file)."""
    text = _read_text(path, label)
    loader: _ConfigLoader | None = None
    try:
        loader = _ConfigLoader(text)  # refuses unprintable characters already
        root = loader.get_single_node()
        if root is not None:
            _refuse_repeated_keys(root, ())
        return (loader.construct_document(root) if root is not None else None), root
    except _Refused as refused:
        raise ConfigError(f"{label}: line {refused.line}: {refused.reason}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: {_where(exc, text)}invalid YAML: {_problem(exc)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _refuse_repeated_keys(node: yaml.Node, path: tuple[str, ...]) -> None:
    """A key given twice in one mapping is refused, naming it and both lines: YAML would
    keep the later value silently, and a hand edit over SSH repeats a key easily.  (The
    depth is bounded by ``MAX_DEPTH`` already, so this recursion is too.)"""
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                where = ".".join((*path, clip(key)))
                raise _Refused(line, f"{where}: given twice (lines {first_lines[key]} and {line})")
            first_lines[key] = line
            _refuse_repeated_keys(value_node, (*path, clip(key)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_repeated_keys(item, (*path, str(index)))


def _read_text(path: Path, label: str) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read config: {exc.strerror}") from exc
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(f"{label}: cannot read config: {exc}") from exc
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{label}: cannot read config: larger than {MAX_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{label}: line {line}: cannot read config: not UTF-8 text") from None


def _where(exc: yaml.YAMLError, text: str) -> str:
    """``line N: `` of a YAML error, or nothing when it carries no position."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f"line {mark.line + 1}: "
    if isinstance(exc, yaml.reader.ReaderError):  # an unprintable character: its offset
        return f"line {text[: exc.position].count(chr(10)) + 1}: "
    return ""


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else 0
        return f"character U+{code:04X} is not allowed in YAML"
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):  # "but found another document": of what
        problem = f"{context}, {problem}"
    return clip(problem)

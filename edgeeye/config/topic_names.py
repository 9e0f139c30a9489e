"""The one rule for names from outside that become MQTT topic levels.

Everything edgeeye publishes is under ``<topic_prefix>/<device_id>/`` (and Home Assistant's
``<discovery_prefix>/``).  A name that becomes a level of those topics is one of two kinds:

- **typed in the config** (``device_id``, ``mqtt.topic_prefix``, region names, presence
  ``id``): refused, with its key and line, unless it is plain: ASCII letters, digits, and
  ``_ - .`` (regions and ids: lower-case letters, digits and ``_``), starting with a letter
  or digit, at most 64 characters (regions 32).  So no ``/`` (a new level), no ``+`` or
  ``#`` (wildcards, refused by brokers in a published topic), no NUL or other control
  character, no line break, nothing beyond ASCII that could look like something else.
- **read from a file** (a model's labels, which a presence entry names): never used as it
  is; it becomes a *slug*: lower case, every run of anything but ``a-z`` and ``0-9`` one
  ``_``, no ``_`` at either end, at most 32 characters, ``label`` if nothing is left.

Either way a level is never empty, never ``.`` or ``..``, and no name can reach outside
the device's own tree.
"""

from __future__ import annotations

import re

#: A device id or a level of the topic prefix.
TOPIC_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: The whole topic prefix: one to four such levels.
TOPIC_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,3}")
#: A region name or a presence id.
SCENE_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,31}")

SLUG_CHARS = 32


def is_topic_level(name: str) -> bool:
    """Whether ``name`` may be a device id (the whole string: a trailing newline fails)."""
    return TOPIC_LEVEL.fullmatch(name) is not None


def is_topic_prefix(prefix: str) -> bool:
    return TOPIC_PREFIX.fullmatch(prefix) is not None


def slug(text: str, limit: int = SLUG_CHARS, empty: str = "label") -> str:
    """``text`` (a label from a file) as a topic level: see the module's rule."""
    made = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].rstrip("_")
    return made or empty

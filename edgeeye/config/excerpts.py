"""Values and text shown in one-line messages: short, printable, never a whole file.

Apart from ``messages`` (which needs pydantic and yaml) so that the worker process, which
names bad labels and models with these, imports neither.
"""

from __future__ import annotations

from collections.abc import Sized

#: The most of a value (or key) a message shows: enough to recognise it, never a whole
#: file, so a hostile 5000-character value still gets a one-line, readable error.
EXCERPT_CHARS = 60


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` when short; else its first ``limit`` or so characters, an ellipsis
    and the value's size: ``'aaaa…' (5000 characters)``.  Never raises."""
    if isinstance(value, str):
        text = repr(value)
        if len(text) <= limit:
            return text
        shown = value[:limit]
        while len(repr(shown)) > limit - 1:  # escapes (\x01) make the repr the longer
            shown = shown[:-1]
        head = repr(shown)
        return f"{head[:-1]}…{head[-1]} ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        # repr() of an int over 4300 digits raises; YAML's 0x... makes one cheaply.
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # a huge int inside, or JSON nested 2000 deep
        return f"a {type(value).__name__} too large to show"
    if len(text) <= limit:
        return text
    size = f" ({len(value)} items)" if isinstance(value, Sized) else ""
    return f"{text[: limit - 1]}…{size}"


def clip(text: str, limit: int = 2 * EXCERPT_CHARS) -> str:
    """Plain text (a YAML parser's problem, a path) on one line, at most ``limit`` long."""
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"

"""What ``edgeeye watch`` makes of a message: a ``Reading``, or a ``NotUnderstood`` and why.

Anyone who can publish on the broker writes to the watcher's terminal, so no payload is
trusted.  ``parse_message`` never raises: it reads at most ``MAX_PAYLOAD_BYTES``, wants
UTF-8 and, but for a status, JSON of finite numbers nested at most ``MAX_JSON_DEPTH`` deep
with the fields of the right types.  Every string shown (device ids, labels, statuses,
reasons) goes through ``printable``: control and format characters (ESC, bidi overrides)
become visible escapes, lengths are capped.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from edgeeye.publish.stats import Stats

LEAVES = ("result", "stats", "status", "settings", "error", "snapshot")
#: Payloads longer than this are not read (a snapshot is only measured): no device sends one.
MAX_PAYLOAD_BYTES = 64 * 1024
#: Deeper JSON is not understood; edgeeye's own documents are three levels deep.
MAX_JSON_DEPTH = 32
#: Rows the table keeps; messages from further devices are counted as not understood.
MAX_DEVICES = 256
#: Presence entries kept per device (a device configures at most 64).
MAX_PRESENCE = 64
#: Characters printed as escapes: controls (Cc), format characters such as bidi
#: overrides (Cf), lone surrogates (Cs, which a UTF-8 terminal cannot even encode) and
#: the line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_INTEGER_DIGITS = 20  # longer JSON integers are not understood (no counter gets there)
#: Where ``parse_message`` reports an exception its checks did not foresee.
UNFORESEEN = "watch could not read it"

JsonValue = Any  # what json.loads returns; checked field by field where it is used


def printable(text: str, limit: int = 40) -> str:
    """``text`` safe on a terminal: escaped characters as ``\\x1b``, ``\\u202e`` and the
    like, at most ``limit`` characters (the cut marked ``...``)."""
    head = text[: limit + 1]  # escaping only lengthens: nothing past this is shown
    shown = "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in _ESCAPED_CATEGORIES
        else ch
        for ch in head
    )
    if len(shown) > limit or len(text) > limit:
        return shown[: max(0, limit - 3)] + "..."
    return shown


@dataclass(frozen=True, slots=True)
class Reading:
    """An understood message: what it says about its device (None: it does not say)."""

    device: str
    kind: str
    payload: JsonValue  # for --json: the document, a status's text, a snapshot's size
    status: str | None = None
    label: str | None = None
    score: float | None = None
    stats: Stats | None = None
    presence: tuple[str, bool] | None = None  # (entry id, on)


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """A message watch cannot use, and why; ``payload`` is its JSON if it had any."""

    device: str
    kind: str
    reason: str
    payload: JsonValue = None


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _finite_number(text: str) -> float:
    """json's parse_float and parse_constant: NaN, Infinity and 1e999 are refused."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > _INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _too_deep(document: JsonValue) -> bool:
    """Whether ``document`` nests deeper than ``MAX_JSON_DEPTH`` (iteratively: no recursion)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _load_json(text: str) -> tuple[JsonValue, str | None]:
    """(the document, None), or (None, why it is not JSON watch reads)."""
    try:
        document = json.loads(
            text, parse_float=_finite_number, parse_int=_short_int, parse_constant=_finite_number
        )
    except RecursionError:
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:  # JSONDecodeError and the parse_* refusals
        return None, f"not JSON: {exc}"
    if _too_deep(document):
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return document, None


def _result(device: str, document: JsonValue) -> Reading | NotUnderstood:
    def refuse(reason: str) -> NotUnderstood:
        return NotUnderstood(device, "result", reason, document)

    if not isinstance(document, dict):
        return refuse(f"a result that is {_type_name(document)}, not an object")
    labels = document.get("labels")
    if not isinstance(labels, list):
        return refuse(f"'labels' is {_type_name(labels)}, not a list")
    if not labels:  # nothing passed min_score: a result all the same
        return Reading(device, "result", document, label="", score=None)
    top = labels[0]
    if not isinstance(top, dict):
        return refuse(f"labels[0] is {_type_name(top)}, not an object")
    if "label" not in top:
        return refuse("labels[0] has no 'label'")
    label, score = top["label"], top.get("score")
    if not isinstance(label, str):
        return refuse(f"labels[0].label is {_type_name(label)}, not a string")
    if isinstance(score, bool) or not isinstance(score, int | float):
        return refuse(f"labels[0].score is {_type_name(score)}, not a number")
    counts = document.get("counts")
    if counts is not None:  # a detector's: every label found, and how many of each
        if not isinstance(counts, dict):
            return refuse(f"'counts' is {_type_name(counts)}, not an object")
        for name, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int):
                return refuse(f"counts[{printable(name, 20)!r}] is {_type_name(count)}")
        label = " ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())
    return Reading(device, "result", document, label=label, score=float(score))


def _stats(device: str, document: JsonValue) -> Reading | NotUnderstood:
    try:
        stats = Stats.model_validate(document)
    except ValidationError as exc:
        # Another edgeeye version's stats, say: the row keeps what it knew.
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the document"
        return NotUnderstood(device, "stats", f"not this edgeeye's stats: {where}", document)
    return Reading(device, "stats", document, stats=stats)


def _presence(device: str, key: str, document: JsonValue) -> Reading | NotUnderstood:
    state = document.get("state") if isinstance(document, dict) else None
    if state not in ("on", "off"):
        return NotUnderstood(device, "presence", "a presence state that is not on or off", document)
    return Reading(device, "presence", document, presence=(key, state == "on"))


def _parse(topic: str, payload: bytes) -> Reading | NotUnderstood:
    levels = topic.rsplit("/", 3)
    if len(levels) == 4 and levels[2] == "presence" and levels[1]:
        # <prefix>/<device>/presence/<id>
        document, problem = _load_json(payload[:MAX_PAYLOAD_BYTES].decode("utf-8", "replace"))
        if problem is not None or len(payload) > MAX_PAYLOAD_BYTES:
            return NotUnderstood(levels[1], "presence", problem or "too large")
        return _presence(levels[1], levels[3], document)
    levels = topic.rsplit("/", 2)
    device, kind = (levels[-2], levels[-1]) if len(levels) >= 2 else ("", topic)
    if kind not in LEAVES or not device:
        return NotUnderstood(device, kind, "not a topic edgeeye publishes")
    if kind == "snapshot":
        return Reading(device, kind, {"jpeg_bytes": len(payload)})
    if len(payload) > MAX_PAYLOAD_BYTES:
        return NotUnderstood(
            device, kind, f"{len(payload)} bytes, over the {MAX_PAYLOAD_BYTES // 1024} KiB read"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NotUnderstood(device, kind, f"not UTF-8 (byte {exc.start})")
    if kind == "status":
        return Reading(device, kind, text, status=text)
    document, problem = _load_json(text)
    if problem is not None:
        return NotUnderstood(device, kind, problem)
    if kind == "result":
        return _result(device, document)
    if kind == "stats":
        return _stats(device, document)
    return Reading(device, kind, document)  # settings, error: --json shows them; seen


def parse_message(topic: str, payload: bytes) -> Reading | NotUnderstood:
    """What a message on ``topic`` says; never raises, whatever ``payload`` holds."""
    try:
        return _parse(topic, payload)
    except Exception as exc:  # a case the checks missed costs one message, not the thread
        return NotUnderstood("", "", f"{UNFORESEEN}: {type(exc).__name__}: {exc}")

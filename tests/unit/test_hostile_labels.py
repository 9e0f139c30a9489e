"""Hostile labels files: refused at start with the file and line, or read as labels.

A label goes into every result, log line and Home Assistant's UI, so control characters,
bytes that are not UTF-8, endless lines and huge files never get that far.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeeye.errors import ModelError
from edgeeye.inference.model import _NUMBERED, load_labels


def _labels_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    return path


def _refusal(tmp_path: Path, content: bytes) -> tuple[Path, str]:
    path = _labels_file(tmp_path, content)
    with pytest.raises(ModelError) as refused:
        load_labels(path)
    return path, str(refused.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"a\nb\nc\nd\ne\nf\ntiger\x01cat\n",
            "line 7: control character U+0001 in 'tiger\\x01cat'",
        ),
        (b"cat\na\x00b\n", "line 2: control character U+0000 in 'a\\x00b'"),
        (b"tiger\tcat\n", "line 1: control character U+0009 in 'tiger\\tcat'"),
        (b"cat\ndog\x7f\n", "line 2: control character U+007F in 'dog\\x7f'"),
        ("cat\ndog\x85x\n".encode(), "line 2: control character U+0085 in 'dog\\x85x'"),
        ("a\u2028b\n".encode(), "line 1: control character U+2028 in 'a\\u2028b'"),
        (b"cat\rdog\n", "line 1: control character U+000D in 'cat\\rdog'"),
        (b"0 cat\n1 d\x1bog\n", "line 2: control character U+001B in 'd\\x1bog'"),
        (
            b"x" * 300 + b"\x01\n",
            "line 1: control character U+0001 in '" + "x" * 57 + "…' (301 characters)",
        ),
    ],
)
def test_control_characters_are_refused_with_their_line(tmp_path, content, expected):
    path, message = _refusal(tmp_path, content)
    assert message == f"labels {path}: {expected}"


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"a\nb\nc\xff\n", 3),
        (b"\xff", 1),
        (b"cat\ndog\n\xe2\x82", 3),  # a character cut short at the end
        (b"cat\n\xed\xa0\x80\n", 2),  # an encoded surrogate
        (b"\xef\xbb\xbfcat\n\xc0\xaf\n", 2),  # an overlong '/' after a BOM
    ],
)
def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path, content, line):
    path, message = _refusal(tmp_path, content)
    assert message == f"labels {path}: line {line}: not UTF-8 text"


def test_a_byte_order_mark_is_skipped(tmp_path):
    assert load_labels(_labels_file(tmp_path, b"\xef\xbb\xbfcat\r\ndog\r\n")) == ("cat", "dog")
    numbered = _labels_file(tmp_path, b"\xef\xbb\xbf0 cat\n1 dog\n")
    assert load_labels(numbered) == ("cat", "dog")


def test_tabs_around_a_label_and_as_the_number_separator_are_accepted(tmp_path):
    assert load_labels(_labels_file(tmp_path, b"\tcat \ndog\t\n\n\n")) == ("cat", "dog")
    assert load_labels(_labels_file(tmp_path, b"0\tcat\n1:\tdog\n")) == ("cat", "dog")


def test_a_label_over_200_characters_is_refused(tmp_path):
    fits = "é" * 200
    assert load_labels(_labels_file(tmp_path, f"cat\n{fits}\n".encode())) == ("cat", fits)
    path, message = _refusal(tmp_path, b"cat\n" + b"x" * 201 + b"\n")
    assert message == (
        f"labels {path}: line 2: label longer than 200 characters: '{'x' * 57}…' (201 characters)"
    )


def test_a_file_over_a_megabyte_is_refused_before_it_is_read(tmp_path):
    path, message = _refusal(tmp_path, b"cat\n" * 250_001)
    assert message == f"labels {path}: larger than 1,000,000 bytes"
    with pytest.raises(ModelError) as endless:
        load_labels(Path("/dev/zero"))
    assert str(endless.value) == "labels /dev/zero: larger than 1,000,000 bytes"


def test_more_than_100000_lines_are_refused(tmp_path):
    assert len(load_labels(_labels_file(tmp_path, b"a\n" * 100_000))) == 100_000
    path, message = _refusal(tmp_path, b"a\n" * 100_001)
    assert message == f"labels {path}: more than 100,000 lines"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"0 cat\n99999999999 dog\n", "line 2: label number 99999999999 is over 99999"),
        (b"0 cat\n" + b"9" * 5000 + b" dog\n", "line 2: label number 99999999999… is over 99999"),
        (b"0 cat\n100000 dog\n", "line 2: label number 100000 is over 99999"),
    ],
)
def test_label_numbers_past_the_line_limit_are_refused(tmp_path, content, expected):
    path, message = _refusal(tmp_path, content)
    assert message == f"labels {path}: {expected}"


def test_plain_numbered_and_trailing_empty_lines_still_read_as_before(tmp_path):
    plain = b"background\ncat\n\ndog\n\n\n"
    assert load_labels(_labels_file(tmp_path, plain)) == ("background", "cat", "", "dog")
    numbered = b"0 background\n1: cat\n3  dog\n"
    assert load_labels(_labels_file(tmp_path, numbered)) == ("background", "cat", "2", "dog")


# -- property tests -------------------------------------------------------------------

CONTROL = ("Cc", "Zl", "Zp")
FUZZ = settings(max_examples=200, deadline=None)


def _labels_or_one_line(folder: Path, content: bytes) -> tuple[str, ...] | None:
    path = folder / "labels.txt"
    path.write_bytes(content)
    try:
        labels = load_labels(path)
    except ModelError as exc:
        message = str(exc)
        assert message.startswith(f"labels {path}: "), message
        assert "\n" not in message and len(message) - len(str(path)) <= 300, message
        return None
    assert labels and isinstance(labels, tuple)
    for label in labels:
        assert len(label) <= 200
        assert not any(unicodedata.category(char) in CONTROL for char in label), label
    return labels


@FUZZ
@given(content=st.binary(max_size=600))
def test_generated_bytes_give_clean_labels_or_one_line(tmp_path_factory, content):
    _labels_or_one_line(tmp_path_factory.mktemp("bytes"), content)


@FUZZ
@given(lines=st.lists(st.text(max_size=30) | st.from_regex(r"\A\d{1,7}[ \t:]+\w+\Z"), max_size=20))
def test_generated_lines_give_clean_labels_or_one_line(tmp_path_factory, lines):
    _labels_or_one_line(tmp_path_factory.mktemp("lines"), "\n".join(lines).encode())


printable_label = st.text(
    st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs")), min_size=1, max_size=40
).filter(lambda label: label == label.strip(" \t") and not label.startswith("\ufeff"))


@FUZZ
@given(labels=st.lists(printable_label, min_size=1, max_size=30), crlf=st.booleans())
def test_printable_labels_come_back_exactly(tmp_path_factory, labels, crlf):
    if all(_NUMBERED.match(label) for label in labels):
        labels = ["first", *labels]  # keep it a plain file: every line "N label" is numbered
    newline = "\r\n" if crlf else "\n"
    content = (newline.join(labels) + newline).encode()
    assert _labels_or_one_line(tmp_path_factory.mktemp("exact"), content) == tuple(labels)

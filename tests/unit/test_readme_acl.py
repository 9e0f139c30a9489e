"""The ACL the README gives is the file the ACL test runs (tests/faults/test_acl.py)."""

from __future__ import annotations

from tests.support.paths import REPO


def test_the_readme_shows_the_tested_acl_word_for_word():
    acl = (REPO / "configs" / "mosquitto" / "edgeeye.acl").read_text()
    readme = (REPO / "README.md").read_text()
    assert "pattern readwrite edgeeye/%u/#" in acl
    assert f"```\n{acl}```" in readme

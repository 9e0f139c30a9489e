"""The local mosquitto the demo, the bench and the tests start (``edgeeye.tools.local_broker``)."""

from __future__ import annotations

import os

import pytest

from edgeeye.tools.local_broker import LocalBroker, find_mosquitto

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")


def test_starting_a_running_broker_again_leaves_one_mosquitto():
    with LocalBroker().start() as broker:  # start(), then __enter__ starts it again
        pid = broker.pid
        assert pid is not None
        assert broker.start().pid == pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the one mosquitto is gone with the block

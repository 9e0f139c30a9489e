"""A fleet of two targets rolled out one at a time: a release that cannot start on the
first stops the rollout before the second is touched, and the play names the host."""

from __future__ import annotations

import pytest

from tests.support.deploy import Playbook, start_targets, target_broker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
FIRST, SECOND = "cam-f1", "cam-f2"


@pytest.fixture(scope="module")
def fleet(deploy_dir, ssh_key, wheelhouse):
    targets = start_targets(deploy_dir, ssh_key, {FIRST: 2, SECOND: 3})
    broker = None
    try:
        broker = target_broker([t.host_address for t in targets], [t.name for t in targets])
        yield targets, Playbook(targets, broker, deploy_dir, wheelhouse)
    finally:
        if broker is not None:
            broker.close()
        for target in targets:
            target.stop()


def _installed(target) -> str:
    return target.ssh("/opt/edgeeye/bin/edgeeye --version").stdout.strip()


def test_a_release_that_cannot_start_stops_the_rollout_at_the_first_host(
    fleet, broken_wheelhouse, note
):
    (first, second), playbook = fleet
    good = playbook.run()
    assert good.returncode == 0, good.output[-3000:]
    assert good.recap[FIRST]["failed"] == good.recap[SECOND]["failed"] == 0
    note(f"fleet of 2, serial 1: {good.seconds:.0f} s")
    assert _installed(first) == _installed(second) == "edgeeye 0.1.0"

    bad = playbook.run(broken_wheelhouse)
    assert bad.returncode != 0
    assert bad.recap[FIRST]["failed"] == 1, bad.output[-3000:]
    assert SECOND not in bad.recap  # never touched: not even its facts were gathered
    assert f"fatal: [{FIRST}]" in bad.output
    assert "edgeeye.service" in bad.output  # the failed start, as systemd reported it
    note(f"bad release stopped after {FIRST} in {bad.seconds:.0f} s")
    # The first host has the broken release and a failed service; the second runs on.
    assert _installed(first) == "edgeeye 0.1.1"
    assert first.service("ActiveState") != "active"
    assert _installed(second) == "edgeeye 0.1.0"
    assert second.service("ActiveState") == "active"
    journal = first.ssh("journalctl -u edgeeye --no-pager -n 50").stdout
    assert "worker 0 exited with status 1 before it had loaded the model" in journal

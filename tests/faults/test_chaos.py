"""Three minutes of chaos, seeded: every fault kind at least once, and the ledger balances.

The real appliance, mosquitto with persistence, the repo's model and demo photographs;
faults from edgeeye.bench.chaos (kills, a stopped worker, broker outages, a half-open and a
slow link, reloads good and bad, a full outbox filesystem).  The 60-minute run is the same
with ``--seconds 3600`` (README, Reliability).
"""

from __future__ import annotations

import shutil

import pytest

from edgeeye.bench.chaos.faults import Kind
from edgeeye.bench.chaos.run import KEEPALIVE_S, chaos, print_report

SEED = 7


@pytest.mark.timeout(600)
def test_three_minutes_of_chaos_leave_a_balanced_ledger_and_nothing_behind(capsys):
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto_sub (mosquitto-clients) is not installed")
    report = chaos(180.0, SEED)
    with capsys.disabled():
        print_report(report)
    assert report["seed"] == SEED
    assert {fault["kind"] for fault in report["faults"]} == {kind.value for kind in Kind}
    assert report["ledger_balances"], "\n".join(report["ledger"]) + report["stderr_tail"]
    totals = report["totals"]
    assert totals["received"] > 500  # results flowed between the faults
    assert totals["issued"] == (
        totals["received"]
        + totals["dropped"]
        + totals["suppressed"]
        + totals["outbox_dropped"]
        + totals["lost"]
        + totals["missing"]
    )
    assert report["final_exit"] == 0
    assert report["left_processes"] == {} and report["left_segments"] == []
    assert report["left_fds"] == 0
    assert report["half_open_noticed_s"], "the half-open link was never noticed"
    assert max(report["half_open_noticed_s"]) <= 1.5 * KEEPALIVE_S
    assert set(report["recovery"]) >= {Kind.KILL_APPLIANCE.value, Kind.BROKER_DOWN.value}

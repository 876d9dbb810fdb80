"""Solace on a real two-node Ray cluster on this machine (``ray start --head`` and a worker
joining it by address), one replica of every deployment on each node. The worker node is
SIGKILLed under traffic and restarted: requests keep being answered (a client retries once, as
partner apps do), every escalated reply has exactly one audit record, and Serve restores the
worker's replicas. Only the processes this test started are killed (by process group and temp
dir), never with ``ray stop``, which would kill every Ray on the machine.
"""

from __future__ import annotations

import pytest

from tools.benchmarks.cluster import HEAD_RESOURCE, WORKER_RESOURCE, failover

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_worker_node_loss_under_traffic(settings):
    report = failover(settings, clients=3, before_s=8.0, down_s=10.0)
    print(report.summary())

    # Deployed across both nodes: five replicas on each before the kill and after the restart.
    assert report.replicas_per_node[f"{HEAD_RESOURCE} (before)"] == 5
    assert report.replicas_per_node[f"{WORKER_RESOURCE} (before)"] == 5
    assert report.replicas_per_node.get(f"{WORKER_RESOURCE} (after)") == 5
    assert report.recovered_s >= 0, "Serve did not restore the worker's replicas"

    # Answered throughout: no request failed twice, and answers never stopped for long.
    assert report.answered > 100
    assert report.errors == 0
    assert report.longest_gap_s < 10.0

    # Escalations: every escalated reply is in the audit store, none recorded twice.
    assert len(report.escalated()) > 10
    assert report.lost() == []
    assert report.duplicated() == {}

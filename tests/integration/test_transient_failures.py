"""Transient is never permanent: a poll during a Salesforce outage retries instead of
failing; a poll that failed is not shown as failed once a later poll went through; and
`connector status` exits non-zero exactly while something needs an operator."""

from __future__ import annotations

import pytest
from rq import SimpleWorker
from test_way_back import MAPPING

from connector.cli.main import main
from jobs.poll import poll_changes
from jobs.queues import changes_queue
from jobs.status import collect_status


@pytest.fixture
def watching(make_bridge):
    """A bridge whose mapping watches Lead fields, so each poll queries Salesforce."""
    return make_bridge(mapping=lambda box: MAPPING)


def clock_poll(bridge) -> None:
    """One tick of the clock (its poll job on the changes queue), run by a worker."""
    queue = changes_queue(bridge.redis)
    queue.enqueue(poll_changes, job_timeout=300, result_ttl=3600)
    SimpleWorker([queue], connection=bridge.redis).work(burst=True, logging_level="ERROR")


def test_a_poll_during_an_outage_waits_for_its_retry_and_needs_nobody(watching, capsys):
    bridge = watching
    bridge.box.salesforce.faults.add(endpoint="/services/data/", status=503)
    clock_poll(bridge)
    queue = changes_queue(bridge.redis)
    assert queue.scheduled_job_registry.count == 1  # its retry, with the backoff
    assert queue.failed_job_registry.count == 0
    assert collect_status(bridge.redis)["queues"]["changes"]["failed_count"] == 0
    assert main(["status"]) == 0
    assert "nothing needs an operator" in capsys.readouterr().out


def test_a_failed_poll_made_good_by_a_later_one_is_not_shown_as_failed(watching, capsys):
    bridge = watching
    refusal = bridge.box.salesforce.faults.add(
        endpoint="/services/data/.*/queryAll", status=400, code="INVALID_FIELD",
        message="No such column 'SystemModstamp' on entity 'Lead'")
    clock_poll(bridge)
    queue = changes_queue(bridge.redis)
    assert queue.failed_job_registry.count == 1

    # while no later poll went through, the operator is told, with the reason
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "INVALID_FIELD" in out and "1 failed changes jobs" in out

    bridge.box.salesforce.faults.clear()
    assert refusal.hits
    clock_poll(bridge)  # the next tick goes through
    status = collect_status(bridge.redis)
    assert status["queues"]["changes"]["failed_count"] == 0
    assert queue.failed_job_registry.count == 1  # still kept, with its reason
    assert main(["status"]) == 0
    assert main(["sync", "status"]) == 0
    assert "failed: 0" in capsys.readouterr().out

"""`connector status` says why scheduled retries wait and when the next one runs: the
failure each waits out (system, status, code, reason), counted, with its next try."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from rq import Queue

from connector.cli.main import main
from jobs.deaths import RETRYING
from jobs.queues import inbound_queue
from jobs.waiting import reason_lines, scheduled_reasons


def test_an_event_retrying_a_salesforce_503_is_listed_with_its_reason_and_next_try(
        bridge, capsys):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Poster", IsActive=True)
    openid = bridge.box.population.new_follower().openid
    sf.faults.add(endpoint="/services/data/", status=503)
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    bridge.work()
    registry = inbound_queue(bridge.redis).scheduled_job_registry
    assert registry.count == 1  # waiting for its retry, not failed
    (job_id,) = registry.get_job_ids()
    due = registry.get_scheduled_time(job_id).strftime("%Y-%m-%d %H:%M:%S UTC")

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "waiting, next try" in line)
    assert line.startswith("  1 waiting, next try ")
    assert due in line
    assert re.search(r": salesforce 503\b", line), line
    assert "Error:" not in line and "Exception" not in line  # no Python names

    assert main(["status", "--json"]) == 0
    waiting = json.loads(capsys.readouterr().out)["retries_waiting"]
    assert waiting["read"] == 1 and waiting["capped"] is False
    (group,) = waiting["reasons"]
    assert group["count"] == 1 and group["next_try"] == due
    assert group["reason"].startswith("salesforce 503")


def test_the_soonest_retries_are_read_grouped_largest_first_and_a_cap_is_said(redis_conn):
    queue = Queue("retry-reasons-test", connection=redis_conn)
    queue.empty()
    base = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    busy = {"system": "wechat", "code": "45009", "message": "API quota spent"}
    down = {"system": "salesforce", "status": 503, "code": "SERVER_UNAVAILABLE",
            "message": "Salesforce is unavailable; retry later."}
    for minute, kept in [(5, busy), (1, down), (2, busy), (3, busy), (9, down), (30, busy)]:
        job = queue.enqueue_at(base + timedelta(minutes=minute), "jobs.status.collect_status")
        job.meta[RETRYING] = kept
        job.save_meta()

    section = scheduled_reasons(queue, cap=5)
    assert section["read"] == 5 and section["capped"] is True  # the 30-minute one is unread
    assert section["reasons"] == [
        {"reason": "wechat 45009: API quota spent", "count": 3,
         "next_try": "2030-01-01 12:02:00 UTC"},
        {"reason": "salesforce 503 SERVER_UNAVAILABLE: Salesforce is unavailable; retry "
                   "later.", "count": 2, "next_try": "2030-01-01 12:01:00 UTC"}]
    lines = reason_lines(section)
    assert lines[0] == ("  3 waiting, next try 2030-01-01 12:02:00 UTC: "
                        "wechat 45009: API quota spent")
    assert lines[-1] == "  (only the 5 soonest scheduled retries read)"
    assert scheduled_reasons(queue, top=1)["reasons"][0]["count"] == 4
    # a pause's or a busy batch's own words (jobs/pausing.py, jobs/inbound.py) as they are
    paused = queue.enqueue_at(base + timedelta(minutes=40), "jobs.status.collect_status")
    paused.meta[RETRYING] = {"why": "waits for Salesforce's daily API limit to free calls"}
    paused.save_meta()
    assert {"reason": "waits for Salesforce's daily API limit to free calls", "count": 1,
            "next_try": "2030-01-01 12:40:00 UTC"} in scheduled_reasons(queue)["reasons"]
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.remove(job_id, delete_job=True)

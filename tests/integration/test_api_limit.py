"""The org's daily API limit end to end: spent for a while, the queues pause and then
land everything; above the allocation, the poll waits and inbound events go on."""

from __future__ import annotations

import time

import pytest
import requests
from rq import SimpleWorker
from rq.job import Job

from connector.cli.main import main as connector
from connector.errors import RateLimitedError
from connector.salesforce import ApiUsage
from connector.salesforce.budget import PROBE
from jobs.poll import poll_changes
from jobs.queues import changes_queue, enqueue_changes, inbound_queue
from jobs.retry import MAX_RETRIES
from jobs.status import collect_status, salesforce_lines


def wait_until(condition, what: str, limit: float = 30.0) -> None:
    """Wait (not timed: the deadline only stops a hang) for ``condition``."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what}")
        time.sleep(0.1)


def come_back(queue) -> int:
    """What rq's scheduler does when the deferred jobs' time comes: back on the queue."""
    registry = queue.scheduled_job_registry
    ids = registry.get_job_ids()
    for job_id in ids:
        registry.remove(job_id)
        queue.enqueue_job(Job.fetch(job_id, connection=queue.connection))
    return len(ids)


@pytest.fixture
def limited_bridge(make_bridge, monkeypatch):
    monkeypatch.setenv("SALESFORCE_LIMIT_PROBE_SECONDS", "1")
    return make_bridge()


def printed_status(capsys) -> str:
    capsys.readouterr()
    assert connector(["status"]) == 0  # REDIS_URL is the bridge's
    return capsys.readouterr().out


def test_a_burst_waits_out_the_spent_limit_and_then_lands_completely(limited_bridge, capsys):
    bridge = limited_bridge
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Poster", IsActive=True)
    people = [bridge.box.population.new_follower().openid for _ in range(25)]
    sf.spend_api_calls(seconds=3 * 3600)  # another app spent the org's limit until then
    for openid in people:
        assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    [change] = enqueue_changes(bridge.redis, "Lead", ["00Q000000000001AAA"], origin="om",
                               key="n1")
    bridge.work()
    SimpleWorker([changes_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="WARNING")

    inbound, changes = inbound_queue(bridge.redis), changes_queue(bridge.redis)
    assert inbound.scheduled_job_registry.count == len(people)  # every one waits
    assert changes.scheduled_job_registry.count == 1  # the way back waits too
    assert inbound.failed_job_registry.count == changes.failed_job_registry.count == 0
    assert bridge.count("WeChat_Follower__c") == 0
    status = collect_status(bridge.redis)["salesforce"]
    assert "REQUEST_LIMIT_EXCEEDED" in status["paused"]["why"]
    # the first batch was refused; the other jobs found the pause and called nothing but
    # a probe per interval
    assert sf.usage.refused <= 2 + status["paused"]["probes"] < len(people)
    assert "PAUSED" in salesforce_lines(status)[0]
    out = printed_status(capsys)
    assert "salesforce: PAUSED since" in out and "TotalRequests Limit exceeded." in out
    assert f"scheduled retries: {len(people)}  failed: 0" in out
    waiting = Job.fetch(inbound.scheduled_job_registry.get_job_ids()[0],
                        connection=bridge.redis)
    assert waiting.meta["deferrals"] >= 1

    sf.pass_time(3 * 3600)  # hours later, the other app's calls have aged out
    wait_until(lambda: not bridge.redis.exists(PROBE), "the next probe's turn")
    poll_changes()  # the clock's next poll probes: calls go again, the waiting wake up
    assert inbound.count == len(people) and change in changes.job_ids
    bridge.work()

    assert bridge.count("WeChat_Follower__c") == len(people)
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(people)
    assert inbound.failed_job_registry.count == 0
    assert inbound.scheduled_job_registry.count == 0
    assert collect_status(bridge.redis)["salesforce"]["paused"] is None
    assert "PAUSED" not in printed_status(capsys)


def test_waiting_spends_none_of_a_job_s_retries(limited_bridge):
    """rq counts a deferral as a retry; the retry policy does not: a job that waited
    longer than its whole retry horizon still retries a passing fault afterwards."""
    bridge = limited_bridge
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.spend_api_calls(seconds=3600)
    assert bridge.sender.deliver(wx.follow(bridge.box.population.new_follower().openid)
                                 ).acknowledged
    queue = inbound_queue(bridge.redis)
    bridge.work()
    for _ in range(MAX_RETRIES + 1):  # the pause outlasts the retry horizon
        assert come_back(queue) == 1
        bridge.work()
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    assert Job.fetch(job_id, connection=bridge.redis).meta["deferrals"] == MAX_RETRIES + 2

    sf.pass_time(3600)  # the window frees calls
    wait_until(lambda: not bridge.redis.exists(PROBE), "the next probe's turn")
    # a 503 that outlasts the call's own retries (connector/in_call.py: 4 attempts)
    sf.faults.add(endpoint="/composite/sobjects", status=503, count=4)
    come_back(queue)
    bridge.work()  # the probe ends the pause; the write meets a passing fault
    assert queue.failed_job_registry.count == 0
    assert queue.scheduled_job_registry.get_job_ids() == [job_id]  # its first retry
    come_back(queue)
    bridge.work()
    assert bridge.count("WeChat_Follower__c") == 1
    assert queue.failed_job_registry.count == 0


def test_above_the_allocation_the_poll_waits_and_inbound_lands(make_bridge, monkeypatch,
                                                               capsys):
    monkeypatch.setenv("SALESFORCE_API_ALLOCATION", "0.5")
    bridge = make_bridge()
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.spend_api_calls(int(sf.usage.limit * 0.9), seconds=3600)
    first, second = (bridge.box.population.new_follower().openid for _ in range(2))
    assert bridge.sender.deliver(wx.follow(first)).acknowledged
    bridge.work()  # inbound goes on at 90 %, and its answers tell the usage
    assert bridge.count("WeChat_Follower__c") == 1

    queries = sf.api_calls.get("query", 0)
    result = poll_changes()
    assert result["status"].startswith("held")
    assert sf.api_calls.get("query", 0) == queries  # the poll called nothing
    held = collect_status(bridge.redis)["salesforce"]["held"]["poll"]
    assert "SALESFORCE_API_ALLOCATION" in held and "(90%)" in held
    out = printed_status(capsys)
    assert "salesforce API usage: " in out and "poll held: the org has used" in out

    assert bridge.sender.deliver(wx.follow(second)).acknowledged
    bridge.work()
    assert bridge.count("WeChat_Follower__c") == 2


def test_a_poll_refused_for_the_limit_pauses_instead_of_failing(bridge):
    sf = bridge.box.salesforce
    sf.spend_api_calls(seconds=3600)
    result = poll_changes()  # no pause known yet: it calls, and is refused
    assert result["status"].startswith("held: Salesforce calls are paused")
    assert "REQUEST_LIMIT_EXCEEDED" in collect_status(bridge.redis)["salesforce"][
        "paused"]["why"]


def test_the_emulator_s_limit_over_http_and_the_gateway_s_usage(bridge):
    sf, gateway = bridge.box.salesforce, bridge.context.salesforce
    usage = gateway.api_usage()
    assert isinstance(usage, ApiUsage) and usage.limit == sf.usage.limit
    assert usage.used == sf.usage.used  # GET limits counts itself
    control = f"{bridge.box.salesforce_url}/__sandbox__/api-usage"
    spent = requests.post(control, json={"seconds": 3600}, timeout=5).json()
    assert spent["used"] == spent["limit"] == sf.usage.limit
    with pytest.raises(RateLimitedError) as refused:
        gateway.query("SELECT Id FROM Lead")
    assert refused.value.code == "REQUEST_LIMIT_EXCEEDED" and refused.value.status == 403
    assert gateway.last_api_usage == (sf.usage.limit, sf.usage.limit)
    stored = collect_status(bridge.redis)["salesforce"]["usage"]
    assert stored["limit"] == sf.usage.limit  # every answer's usage reaches Redis
    stats = requests.get(control.replace("api-usage", "stats"), timeout=5).json()
    assert stats["refused"] == 1 and stats["used"] == stats["limit"]

"""Batches above 200 events: one set of lookups, writes cut into sObject Collections
requests of 200 and sent five to a Composite call, each event with its own outcome; a
burst gathered into one batch; the leases of a running batch renewed (real Redis, real
rq, both sandboxes)."""

from __future__ import annotations

import threading
import time

from rq.job import Job, JobStatus

from connector.events import InboundEvent
from jobs import batching
from jobs.queues import enqueue_inbound, inbound_queue
from jobs.status import collect_status

MISSING_CAMPAIGN = "701000000000009AAA"  # no such Campaign: its member is refused


def queue_scans(bridge, campaigns: list[str], start: int = 1_800_000_000) -> list[str]:
    """New followers scan ``campaigns[i]`` (one push each, ``start + i`` seconds),
    queued as the callback queues them; the job ids."""
    wx, account = bridge.box.wechat, bridge.box.env["WECHAT_ORIGINAL_ID"]
    keys = []
    for i, campaign in enumerate(campaigns):
        openid = bridge.box.population.new_follower().openid
        push = wx.scan(openid, f"sfc_{campaign}", at=start + i)
        event = InboundEvent.from_fields({"ToUserName": account, "FromUserName": openid,
                                          "CreateTime": str(push.create_time),
                                          **{k: str(v) for k, v in push.fields}})
        assert enqueue_inbound(bridge.redis, event)
        keys.append(event.dedupe_key)
    return keys


def test_a_batch_of_450_costs_five_calls_and_one_bad_record_fails_alone(bridge):
    sf = bridge.box.salesforce
    campaign = sf.seed("Campaign", Name="Hall", IsActive=True)
    bad = 300  # its member goes in the second request of the members' write
    keys = queue_scans(bridge, [MISSING_CAMPAIGN if i == bad else campaign
                                for i in range(450)])
    sf.reset_counters()
    bridge.work()

    # Lookups: Contacts, Leads and follower records by 450 OpenIDs, two pieces each
    # (what one query's URL holds), six queries: two composite calls. Writes: 450 Leads
    # (three requests: one composite call), then 450 follower records and 449 members,
    # which point at the Leads (six requests: two composite calls). With a call per
    # query and per request of 200, in batches of 200 (as before), 18 calls. Besides,
    # one query reads the campaign's auto-reply fields (connector/replies), once.
    assert sf.api_calls == {"total": 6, "composite": 5, "query": 1}
    queue = inbound_queue(bridge.redis)
    assert queue.count == 0 and batching.in_batches(bridge.redis) == 0
    assert queue.failed_job_registry.get_job_ids() == [keys[bad]]
    assert sorted(queue.finished_job_registry.get_job_ids()) == sorted(
        k for i, k in enumerate(keys) if i != bad)
    failed = Job.fetch(keys[bad], connection=bridge.redis)
    assert failed.get_status() == JobStatus.FAILED
    [reason] = [f["reason"] for f in collect_status(bridge.redis)["failed"]]
    assert "INVALID_CROSS_REFERENCE_KEY" in reason and "CampaignId" in reason
    assert batching.outcome(bridge.redis, keys[bad])[0] == "failed"
    assert all(batching.outcome(bridge.redis, k) == ("done", None)
               for i, k in enumerate(keys) if i != bad)
    # the bad event's person and follower record are written; only its member is not
    assert bridge.count("Lead") == 450 and bridge.count("WeChat_Follower__c") == 450
    assert bridge.count("CampaignMember") == 449


def test_a_follower_twice_in_a_large_batch_is_one_lead_and_one_member(bridge):
    sf = bridge.box.salesforce
    campaign = sf.seed("Campaign", Name="Hall", IsActive=True)
    wx, account = bridge.box.wechat, bridge.box.env["WECHAT_ORIGINAL_ID"]
    queue_scans(bridge, [campaign] * 250)
    twice = bridge.box.population.new_follower().openid
    for at in (1_900_000_000, 1_900_000_005):  # a follow through the code, then a scan
        push = wx.scan(twice, f"sfc_{campaign}", at=at)
        assert enqueue_inbound(bridge.redis, InboundEvent.from_fields(
            {"ToUserName": account, "FromUserName": twice, "CreateTime": str(at),
             **{k: str(v) for k, v in push.fields}}))
    bridge.work()
    leads = [r["Id"] for r in sf.records("Lead") if r.get("WeChat_OpenId__c") == twice]
    assert len(leads) == 1
    assert bridge.count("CampaignMember", LeadId=leads[0]) == 1
    assert bridge.count("Lead") == 251 and bridge.count("CampaignMember") == 251


def test_a_burst_is_gathered_while_it_arrives(bridge):
    campaign = bridge.box.salesforce.seed("Campaign", Name="Hall", IsActive=True)
    first = queue_scans(bridge, [campaign] * 2)
    queue_key = inbound_queue(bridge.redis).key
    claimed = batching.claim(bridge.redis, queue_key, "owner:1", first[0], job_id="j1")
    assert claimed == first
    looks = []

    def arrive(seconds: float) -> None:  # more events arrive while the batch looks
        looks.append(seconds)
        if len(looks) <= 2:
            queue_scans(bridge, [campaign] * 3, start=1_800_000_100 + 10 * len(looks))

    gathered = batching.gather(bridge.redis, queue_key, "owner:1", claimed, job_id="j1",
                               seconds=5, step=0.01, sleep=arrive)
    assert len(gathered) == 8 and len(looks) == 3  # the third look found nothing: done
    assert batching.in_batches(bridge.redis) == 7  # every job but the owner's is taken
    # a quiet event (nothing was waiting) does not wait
    alone = batching.gather(bridge.redis, queue_key, "owner:2", ["k"], sleep=arrive)
    assert alone == ["k"] and len(looks) == 3
    # nor does one whose batch is full
    assert batching.gather(bridge.redis, queue_key, "owner:1", gathered, limit=8,
                           sleep=arrive) == gathered and len(looks) == 3
    batching.release_job(bridge.redis, "j1")
    assert inbound_queue(bridge.redis).count == 8


def test_a_running_batch_renews_its_leases_and_only_its_own(bridge):
    campaign = bridge.box.salesforce.seed("Campaign", Name="Hall", IsActive=True)
    keys = queue_scans(bridge, [campaign] * 3)
    redis, queue_key = bridge.redis, inbound_queue(bridge.redis).key
    assert batching.claim(redis, queue_key, "owner:1", keys[0], job_id="j1") == keys
    events = batching.load_events(redis, keys[1:])
    assert batching.claim_followers(redis, "owner:1", events, job_id="j1") == set()
    claim = batching.PREFIX + "claim:"
    for key in keys:
        redis.pexpire(claim + key, 500)
    redis.pexpire(batching.follower_key(events[keys[1]]), 500)
    redis.set(claim + keys[2], "owner:2", px=500)  # changed hands: not ours to renew

    with batching.renewing(redis, "j1", "owner:1", every=0.05):
        time.sleep(0.3)
        assert redis.pttl(claim + keys[0]) > batching.LEASE_MS - 5_000
        assert redis.pttl(batching.follower_key(events[keys[1]])) > batching.LEASE_MS - 5_000
        assert redis.pttl(claim + keys[2]) <= 500
    assert not [t for t in threading.enumerate() if t.name == "lease-renewal"]
    assert batching.renew(redis, "j1", "owner:1") == 4  # two claims, two follower holds
    assert batching.renew(redis, "j1", "owner:9") == 0

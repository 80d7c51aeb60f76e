"""The bridge beside other writers, on the sandboxes and a real worker: keys that repeat
in one upsert, an upsert that loses the race for a new key, a trigger that fails on a
lock, a follower two batches would write at once, and campaign statuses two workers add.
"""

from __future__ import annotations

import pytest

from connector.events import InboundEvent
from connector.inbound.calls import Write
from connector.inbound.statuses import add_statuses
from jobs import batching
from jobs.queues import inbound_queue
from jobs.status import collect_status
from sandbox.salesforce.record_faults import TRIGGER_LOCK

LEADS = "PATCH .*/composite/sobjects/Lead/"


def lead(openid: str, **fields) -> dict:
    return {"LastName": "Follower", "Company": "WeChat", "WeChat_OpenId__c": openid,
            **fields}


def test_a_key_twice_goes_in_two_requests_and_the_later_values_win(bridge):
    gateway = bridge.context.salesforce
    gateway.describe("Lead")
    before = gateway.api_calls
    results = gateway.upsert_many("Lead", "WeChat_OpenId__c", [
        lead("oTwice", FirstName="First"), lead("oOnce"), lead("oTwice", FirstName="Later")])
    # the second "oTwice" goes in a second request, after the first: both in one
    # composite call, which runs its subrequests in order
    assert gateway.api_calls - before == 1
    assert all(r.success for r in results)
    assert [r.created for r in results] == [True, True, False]
    assert results[0].id == results[2].id
    assert [r["FirstName"] for r in bridge.box.salesforce.records("Lead")
            if r["WeChat_OpenId__c"] == "oTwice"] == ["Later"]


def test_an_upsert_that_loses_the_race_for_a_new_key_finds_the_record(bridge):
    sf, gateway = bridge.box.salesforce, bridge.context.salesforce
    sf.faults.add(endpoint=LEADS, race=True, count=1)
    [result] = gateway.upsert_many("Lead", "WeChat_OpenId__c", [lead("oRace")])
    assert (result.success, result.created) == (True, False)  # the winner's record
    assert [r["Id"] for r in sf.records("Lead")] == [result.id]


def test_a_follow_that_loses_the_race_is_written_not_dead_lettered(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.faults.add(endpoint=LEADS, race=True, count=1)
    openid = bridge.box.population.new_follower().openid
    assert bridge.sender.deliver(wx.follow(openid)).acknowledged
    bridge.work()
    queue = inbound_queue(bridge.redis)
    assert queue.failed_job_registry.count == queue.scheduled_job_registry.count == 0
    [person] = sf.records("Lead")
    [follower] = sf.records("WeChat_Follower__c")
    assert (person["WeChat_OpenId__c"], follower["Lead__c"]) == (openid, person["Id"])


def test_a_trigger_that_could_not_lock_a_row_is_retried(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.faults.add(endpoint=LEADS, per_record=True,
                  code="CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", count=1)
    openid = bridge.box.population.new_follower().openid
    assert bridge.sender.deliver(wx.follow(openid)).acknowledged
    bridge.work()
    queue = inbound_queue(bridge.redis)
    assert queue.scheduled_job_registry.count == 1  # waiting for its retry, not failed
    assert queue.failed_job_registry.count == 0
    assert bridge.count("Lead") == 0
    bridge.run_due()  # the retries' time has come
    assert bridge.count("Lead", WeChat_OpenId__c=openid) == 1
    assert bridge.count("WeChat_Follower__c", OpenId__c=openid) == 1


def test_a_trigger_that_refuses_the_record_names_itself_in_the_failed_registry(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.faults.add(endpoint=LEADS, per_record=True, code="CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                  message="LeadScoring: execution of BeforeInsert caused by: "
                          "System.NullPointerException: Attempt to de-reference a null object")
    assert bridge.sender.deliver(wx.follow(bridge.box.population.new_follower().openid)
                                 ).acknowledged
    bridge.work()
    [failed] = collect_status(bridge.redis)["failed"]
    assert "The trigger LeadScoring (BeforeInsert) on Lead refused the record" in \
        failed["reason"]
    assert TRIGGER_LOCK not in failed["reason"]


def test_a_follower_another_batch_writes_waits_for_it(bridge):
    wx = bridge.box.wechat
    openid = bridge.box.population.openids(subscribed=True)[0]
    pushes = [wx.scan(openid, "sfc_none", at=1700000000 + n) for n in range(2)]
    held = batching.follower_key(InboundEvent.from_fields({
        "ToUserName": wx.original_id, "FromUserName": openid, "CreateTime": "1",
        "MsgType": "event", "Event": "subscribe"}))
    bridge.redis.set(held, "another-job:0001", px=batching.LEASE_MS)
    for push in pushes:
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()
    queue = inbound_queue(bridge.redis)
    # both come back later (the worker is not held); neither wrote the follower
    assert queue.scheduled_job_registry.count == 2
    assert bridge.count("WeChat_Follower__c", OpenId__c=openid) == 0

    bridge.redis.delete(held)  # the other batch is done
    bridge.run_due()  # the retries' time has come
    assert bridge.count("WeChat_Follower__c", OpenId__c=openid) == 1
    assert queue.failed_job_registry.count == queue.scheduled_job_registry.count == 0
    assert bridge.redis.exists(held) == 0  # the batch let the follower go


def test_follower_holds_are_per_owner(redis_conn):
    def event(openid: str, at: int) -> InboundEvent:
        return InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": openid,
                                         "CreateTime": str(at), "MsgType": "event",
                                         "Event": "subscribe"})

    mine = {e.dedupe_key: e for e in (event("oF", 1), event("oF", 2))}
    assert batching.claim_followers(redis_conn, "job-a", mine) == set()  # both: ours
    theirs = {e.dedupe_key: e for e in (event("oF", 3), event("oG", 4))}
    assert batching.claim_followers(redis_conn, "job-b", theirs) == {event("oF", 3).dedupe_key}
    batching.release_followers(redis_conn, "job-a", mine)
    assert batching.claim_followers(redis_conn, "job-b", theirs) == set()


@pytest.fixture
def statuses_mapping(bridge):
    from connector.settings import DEFAULT_MAPPING
    from mappings.loader import parse_mapping
    text = DEFAULT_MAPPING.read_text().replace(
        '  scene_prefix: "sfc_"', '  scene_prefix: "sfc_"\n  create_missing_statuses: true', 1)
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)
    return bridge


def test_a_status_whose_sort_order_another_worker_took_is_renumbered(statuses_mapping):
    bridge = statuses_mapping
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Expo", IsActive=True)
    sf.seed("CampaignMemberStatus", CampaignId=campaign, Label="Sent", IsDefault=True,
            SortOrder=1)

    def another_worker(sobject, before, after, _actor):
        # Between the bridge's read of the statuses and its write of the missing one,
        # another worker adds its own status at the next SortOrder.
        if sobject == "Lead" and before is None and not sf.records("CampaignMemberStatus")[1:]:
            sf.seed("CampaignMemberStatus", CampaignId=campaign, Label="Registered",
                    SortOrder=2)

    sf.store.authors.observe(another_worker)
    openid = bridge.box.population.openids(subscribed=True)[2]
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    bridge.work()
    statuses = {r["Label"]: r["SortOrder"] for r in sf.records("CampaignMemberStatus")}
    assert statuses == {"Sent": 1, "Registered": 2, "Scanned": 3}
    [member] = sf.records("CampaignMember")
    assert member["Status"] == "Scanned"
    assert inbound_queue(bridge.redis).failed_job_registry.count == 0


def test_a_status_another_worker_added_is_taken_as_there(bridge):
    sf, gateway = bridge.box.salesforce, bridge.context.salesforce
    campaign = sf.seed("Campaign", Name="Fair", IsActive=True)
    sf.seed("CampaignMemberStatus", CampaignId=campaign, Label="Sent", SortOrder=1)
    sf.seed("CampaignMemberStatus", CampaignId=campaign, Label="Scanned", SortOrder=2)
    stale = Write("create", "CampaignMemberStatus", None,
                  ({"CampaignId": campaign, "Label": "Scanned", "HasResponded": True,
                    "SortOrder": 2},), (("e1",),))
    failures: dict = {}
    assert add_statuses(gateway, stale, failures) == set()
    assert failures == {}
    assert len(sf.records("CampaignMemberStatus")) == 2


def test_a_single_upsert_that_loses_the_race_finds_the_record(bridge):
    sf, gateway = bridge.box.salesforce, bridge.context.salesforce
    sf.faults.add(endpoint="PATCH .*/sobjects/WeChat_QR_Code__c/", race=True, count=1)
    result = gateway.upsert("WeChat_QR_Code__c", "Code_Key__c", "race-1", {"Scene__c": "s1"})
    assert (result.success, result.created) == (True, False)
    assert len(sf.records("WeChat_QR_Code__c")) == 1

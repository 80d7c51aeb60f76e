"""The inbound journey end to end: signed, encrypted pushes, each delivered several times,
become exactly one follower, one person and one campaign member in Salesforce."""

from __future__ import annotations

from rq.job import Job

from connector.errors import FatalError
from connector.settings import DEFAULT_MAPPING
from jobs import batching
from jobs.queues import inbound_queue
from jobs.replay import replay_failed
from jobs.status import collect_status
from mappings.loader import parse_mapping


def test_each_person_lands_exactly_once_however_often_wechat_resends(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Spring poster", IsActive=True)
    scene = f"sfc_{campaign}"
    followers = bridge.box.population.openids(subscribed=True)
    strangers = [bridge.box.population.new_follower().openid for _ in range(3)]
    contacts = followers[:2]
    for i, openid in enumerate(contacts):
        sf.seed("Contact", LastName=f"Known {i}", WeChat_OpenId__c=openid)
    people = strangers + contacts + followers[2:3]

    for openid in people:
        deliveries = bridge.sender.storm(wx.scan(openid, scene), 4)
        assert all(d.acknowledged for d in deliveries)
    assert inbound_queue(bridge.redis).count == len(people)  # 24 deliveries, 6 jobs
    bridge.work()

    assert bridge.count("WeChat_Follower__c") == len(people)
    assert bridge.count("Lead") == 4  # 3 new followers + 1 follower who was no Contact
    assert bridge.count("Contact") == 2  # matched, not duplicated
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(people)
    by_openid = {r["OpenId__c"]: r for r in sf.records("WeChat_Follower__c")}
    contact_ids = {r["WeChat_OpenId__c"]: r["Id"] for r in sf.records("Contact")}
    for openid in contacts:
        assert by_openid[openid]["Contact__c"] == contact_ids[openid]
    for openid in strangers:
        assert by_openid[openid]["Subscribed__c"] is True
        assert by_openid[openid]["QR_Scene__c"] == scene

    # scanning again later is a new event, but changes nobody's membership or person
    for openid in people[:3]:
        assert bridge.sender.deliver(wx.scan(openid, scene)).acknowledged
    bridge.work()
    assert bridge.count("Lead") == 4
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(people)


def test_a_burst_is_written_with_a_few_collection_calls(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Event hall", IsActive=True)
    people = [bridge.box.population.new_follower().openid for _ in range(40)]
    for openid in people:
        assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    sf.reset_counters()
    bridge.work()
    assert bridge.count("CampaignMember", CampaignId=campaign) == 40
    # one batch: Contact query, Lead query, members query (their touch fields), stage query
    # (lifecycle), Lead upsert, follower upsert, member create
    assert sf.api_calls["total"] <= 7
    results = [Job.fetch(job_id, connection=bridge.redis).return_value()
               for job_id in inbound_queue(bridge.redis).finished_job_registry.get_job_ids()]
    written = [r for r in results if r["status"] == "written"]
    assert len(written) == 1 and written[0]["batch"] == 40  # one job wrote them all
    assert written[0]["mapping"] == bridge.context.mapping.fingerprint()  # and says how
    assert sum(r["status"] == "coalesced" for r in results) == 39


def test_an_outage_is_retried_and_the_events_land_after_it_heals(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Poster", IsActive=True)
    openid = bridge.box.population.new_follower().openid
    sf.faults.add(endpoint="/services/data/", status=503)
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    bridge.work()
    queue = inbound_queue(bridge.redis)
    assert queue.scheduled_job_registry.count == 1  # waiting for its retry, not failed
    assert queue.failed_job_registry.count == 0
    assert bridge.count("WeChat_Follower__c") == 0

    sf.faults.clear()
    bridge.run_due()  # the retry time has come
    assert bridge.count("WeChat_Follower__c") == 1
    assert bridge.count("CampaignMember", CampaignId=campaign) == 1


def test_a_required_field_failure_waits_named_in_the_failed_registry_and_replays(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.require_fields("Lead", ["Phone"])  # an admin made Phone required
    openid = bridge.box.population.new_follower().openid
    assert bridge.sender.deliver(wx.follow(openid)).acknowledged
    bridge.work()

    status = collect_status(bridge.redis)
    assert status["failed_count"] == 1
    reason = status["failed"][0]["reason"]
    assert "REQUIRED_FIELD_MISSING" in reason and "Phone" in reason
    # the human message, not Python's names for the error or the gateway's verb
    assert reason.startswith("[salesforce") and "Error:" not in reason
    assert "upsert_many" not in reason and "Lead records" in reason
    assert bridge.count("Lead") == 0
    assert bridge.count("WeChat_Follower__c") == 1  # the follower itself was recorded

    # the admin adds Phone to the mapping; the operator replays
    text = DEFAULT_MAPPING.read_text().replace(
        '    LeadSource:        { value: "WeChat" }',
        '    LeadSource:        { value: "WeChat" }\n    Phone:             { value: "n/a" }')
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)
    assert replay_failed(bridge.redis) != []
    bridge.work()
    assert bridge.count("Lead", Phone="n/a") == 1
    assert collect_status(bridge.redis)["failed_count"] == 0


def test_unfollow_updates_state_and_unmapped_events_are_kept(bridge):
    wx = bridge.box.wechat
    # a mapping that does not capture menu clicks (the shipped one records them)
    text = DEFAULT_MAPPING.read_text()
    text = text[:text.index("\ncapture:")] + text[text.index("\nlifecycle:"):]
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)
    openid = bridge.box.population.openids(subscribed=True)[5]
    wx.set_menu([{"type": "click", "name": "Prices", "key": "MENU_PRICES"}])
    assert bridge.sender.deliver(wx.click(openid, "MENU_PRICES")).acknowledged
    assert bridge.sender.deliver(wx.unfollow(openid)).acknowledged
    bridge.work()
    follower = next(r for r in bridge.box.salesforce.records("WeChat_Follower__c")
                    if r["OpenId__c"] == openid)
    assert follower["Subscribed__c"] is False and follower["Unsubscribed_At__c"]
    assert collect_status(bridge.redis)["unhandled"] == 1  # the click, kept for replay


def test_an_event_held_by_another_batch_takes_that_batchs_outcome(bridge):
    wx = bridge.box.wechat
    first, second = (bridge.box.population.new_follower().openid for _ in range(2))
    assert bridge.sender.deliver(wx.follow(first)).acknowledged
    assert bridge.sender.deliver(wx.follow(second)).acknowledged
    queue = inbound_queue(bridge.redis)
    held, done = queue.job_ids
    # another worker holds both events (claimed as its own: it takes no job off the
    # queue, so both jobs run): one it will write, one Salesforce will refuse
    for key in (held, done):
        assert batching.claim(bridge.redis, queue.key, "other-worker", key, limit=1) == [key]
    bridge.work()  # neither job waits on its worker: both come back a moment later
    assert sorted(queue.scheduled_job_registry.get_job_ids()) == sorted([held, done])
    # ... while that batch still runs (no job waited its claims out)
    assert batching.outcome(bridge.redis, held) == ("claimed", None)
    assert queue.finished_job_registry.count == 0 and queue.failed_job_registry.count == 0

    refusal = FatalError("Required fields are missing: [Phone]", system="salesforce",
                         status=400, code="REQUIRED_FIELD_MISSING", fields=["Phone"])
    batching.mark_done(bridge.redis, {held: refusal, done: None})
    bridge.run_due()  # ... and take that batch's outcome instead of writing again
    assert queue.finished_job_registry.get_job_ids() == [done]
    assert queue.failed_job_registry.get_job_ids() == [held]
    assert "REQUIRED_FIELD_MISSING" in collect_status(bridge.redis)["failed"][0]["reason"]
    assert bridge.count("WeChat_Follower__c") == 0  # nothing was written twice



def test_a_required_field_error_injected_as_a_fault_names_the_field(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sf.faults.add(endpoint="PATCH .*/composite/sobjects/Lead/", status=400,
                  code="REQUIRED_FIELD_MISSING", fields=["Phone"])
    assert bridge.sender.deliver(wx.follow(bridge.box.population.new_follower().openid)
                                 ).acknowledged
    bridge.work()
    failed = collect_status(bridge.redis)["failed"]
    assert len(failed) == 1
    assert "REQUIRED_FIELD_MISSING" in failed[0]["reason"]
    assert "Required fields are missing: [Phone]" in failed[0]["reason"]
    assert "(fields: Phone)" in failed[0]["reason"]

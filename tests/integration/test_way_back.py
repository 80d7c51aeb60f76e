"""The way back end to end: a Salesforce change (an admin's edit in the sandbox) reaches
the follower's remark and tags in the WeChat sandbox, by the clock's poll and by
Outbound Messages, and the bridge's own writes never bounce back."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest
from redis import Redis
from rq import SimpleWorker

from connector.cli import main
from connector.errors import SkippableError
from connector.settings import load_settings
from connector.wayback import counters
from connector.wayback.plan import cut_remark
from connector.wayback.poll import poll, watermark
from jobs.queues import changes_queue
from sandbox.salesforce.outbound import envelope
from sandbox.server import serve
from webhooks.app import create_app
from webhooks.outbound_soap import ACK

MAPPING = """
version: 1
follower:
  object: WeChat_Follower__c
  external_id: OpenId__c
  link: { Contact: Contact__c, Lead: Lead__c }
  fields:
    Subscribed__c: { source: follower.subscribed }
    Remark__c:     { source: follower.remark }
    Tags__c:       { source: follower.tag_names, transform: "join(;)|truncate(255)", sync: both }
match:
  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }
  - { object: Lead,    field: WeChat_OpenId__c, source: follower.openid }
create: Lead
objects:
  Lead:
    LastName:    { source: follower.remark, default: "WeChat Follower" }
    Company:     { value: WeChat }
    Description: { source: follower.remark, sync: both }
campaigns:
  scene_prefix: "sfc_"
  status: { subscribe: Responded, scan: Scanned }
events:
  subscribe: { person: true, campaign: true }
  scan:      { person: true, campaign: true }
"""
WRITES = ("/cgi-bin/user/info/updateremark", "/cgi-bin/tags/create",
          "/cgi-bin/tags/members/batchtagging", "/cgi-bin/tags/members/batchuntagging")


@pytest.fixture
def way_back(make_bridge):
    return make_bridge(mapping=lambda box: MAPPING)


def work_changes(bridge) -> None:
    """Run the queued change jobs, as a worker dyno would."""
    SimpleWorker([changes_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="WARNING")


def scan_in(bridge, openids: list[str], before_work=None) -> None:
    """The people scan a campaign code: the bridge writes their Leads and followers
    (``before_work``: what WeChat's staff change before the worker reads the profiles)."""
    campaign = bridge.box.salesforce.seed("Campaign", Name="Poster", IsActive=True)
    for openid in openids:
        assert bridge.sender.deliver(bridge.box.wechat.scan(openid, f"sfc_{campaign}")
                                     ).acknowledged
    if before_work is not None:
        before_work()
    bridge.work()
    assert bridge.count("WeChat_Follower__c") >= len(set(openids))


def record_of(bridge, sobject: str, field: str, openid: str) -> dict:
    return next(r for r in bridge.box.salesforce.records(sobject) if r.get(field) == openid)


def writes(bridge) -> dict[str, int]:
    calls = bridge.box.wechat.api_calls
    return {path.rsplit("/", 1)[-1]: calls[path] for path in WRITES}


def outbound_url(bridge) -> str:
    """The endpoint URL an admin sets on the Outbound Message: it ends with the secret."""
    return f"{bridge.web.url}/salesforce/outbound/{bridge.box.env['SALESFORCE_OUTBOUND_SECRET']}"


def test_an_admins_edit_sets_the_remark_and_tags_within_one_poll(way_back):
    bridge, sf, people = way_back, way_back.box.salesforce, way_back.box.population
    openid = people.new_follower().openid
    scan_in(bridge, [openid])
    lead = record_of(bridge, "Lead", "WeChat_OpenId__c", openid)
    follower = record_of(bridge, "WeChat_Follower__c", "OpenId__c", openid)
    text = "abc张三丰先生来自北京市海淀区"  # 42 bytes: cut to 29, on a character boundary
    sf.edit("Lead", lead["Id"], {"Description": text})
    sf.edit("WeChat_Follower__c", follower["Id"], {"Tags__c": "VIP; 北京 ;VIP"})

    result = poll(bridge.context)
    assert result["Lead"]["new"] == 1 and result["WeChat_Follower__c"]["new"] == 1
    work_changes(bridge)
    person = people.lookup(openid)
    assert person.remark == cut_remark(text) == "abc张三丰先生来自北"
    names = {t["id"]: t["name"] for t in people.tags()}
    assert sorted(names[t] for t in person.tagid_list) == ["VIP", "北京"]

    # the next poll finds nothing new, and nothing more is written
    before = writes(bridge)
    assert poll(bridge.context)["Lead"]["new"] == 0
    work_changes(bridge)
    assert writes(bridge) == before
    assert watermark(bridge.redis, "Lead") == sf.records("Lead")[-1]["SystemModstamp"]

    # removing a tag in Salesforce takes it off the follower
    sf.edit("WeChat_Follower__c", follower["Id"], {"Tags__c": "北京"})
    poll(bridge.context)
    work_changes(bridge)
    assert [names[t] for t in people.lookup(openid).tagid_list] == ["北京"]


def test_an_outbound_message_sets_the_remark(way_back, capsys):
    bridge, sf = way_back, way_back.box.salesforce
    openid = bridge.box.population.new_follower().openid
    scan_in(bridge, [openid])
    lead = record_of(bridge, "Lead", "WeChat_OpenId__c", openid)
    tls = ssl.create_default_context(cafile=bridge.box.tls.bundle_file)
    rule = httpx.post(f"{bridge.box.salesforce_url}/__sandbox__/outbound",
                      json={"object": "Lead", "fields": ["Description"],
                            "url": outbound_url(bridge)}, verify=tls)
    assert rule.status_code == 201

    edit = httpx.patch(f"{bridge.box.salesforce_url}/__sandbox__/records/Lead/{lead['Id']}",
                       json={"Description": "Wang Wu"}, verify=tls)  # an admin, in the UI
    assert edit.status_code == 204
    assert sf.last_writer(lead["Id"]) == sf.admin
    assert sf.outbound.wait_idle(5)
    delivery = sf.outbound.deliveries()[-1]
    assert (delivery.acked, delivery.attempts, delivery.record_ids) == (True, 1, [lead["Id"]])
    assert changes_queue(bridge.redis).count == 1
    work_changes(bridge)
    assert bridge.box.population.lookup(openid).remark == "Wang Wu"

    assert main(["sync", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counters"]["notified"] == 1 and status["counters"]["remarks"] == 1
    assert status["failed_count"] == 0
    # the poll notices the same change too: its job finds it synced, and writes nothing
    assert main(["sync", "poll"]) == 0
    assert "Lead: 1 changed records" in capsys.readouterr().out
    work_changes(bridge)
    assert writes(bridge)["updateremark"] == 1


def test_the_bridges_own_writes_never_bounce_back(way_back):
    bridge, sf, people = way_back, way_back.box.salesforce, way_back.box.population
    for sobject, fields in (("Lead", ["Description"]),
                            ("WeChat_Follower__c", ["Tags__c", "Remark__c"])):
        sf.outbound.add_rule(sobject, fields, outbound_url(bridge))

    def settle() -> None:
        assert sf.outbound.wait_idle(10)
        work_changes(bridge)

    # 20 people with remarks and tags follow by a scan: the bridge writes Leads
    # (Description from the remark) and follower records (Tags__c from the tags); every
    # one of those writes notifies
    openids = [people.new_follower().openid for _ in range(20)]
    staff_tag = people.create_tag("Staff pick")
    scan_in(bridge, openids, before_work=lambda: [
        (people.set_remark(o, f"Remark {i}"), people.tag([o], staff_tag))
        for i, o in enumerate(openids)])
    before = {o: (people.lookup(o).remark, people.lookup(o).tagid_list) for o in openids}
    settle()
    assert writes(bridge) == dict.fromkeys(writes(bridge), 0)  # nothing went back
    assert {o: (people.lookup(o).remark, people.lookup(o).tagid_list) for o in openids} == before
    echoes = counters.read(bridge.redis)["echoes"]
    assert echoes >= 40  # 20 Leads and 20 follower records, all the bridge's own

    # 10 admin edits: 5 remarks, 5 tag lists; exactly those go to WeChat
    edited_remarks = openids[:5]
    for i, openid in enumerate(edited_remarks):
        lead = record_of(bridge, "Lead", "WeChat_OpenId__c", openid)
        sf.edit("Lead", lead["Id"], {"Description": f"Admin {i}"})
    edited_tags = openids[5:10]
    for openid in edited_tags:
        follower = record_of(bridge, "WeChat_Follower__c", "OpenId__c", openid)
        sf.edit("WeChat_Follower__c", follower["Id"], {"Tags__c": "SF Gold"})
    settle()
    after_admin = writes(bridge)
    assert after_admin["updateremark"] == 5
    assert after_admin["create"] == 1  # "SF Gold", once
    names = {t["id"]: t["name"] for t in people.tags()}
    for i, openid in enumerate(edited_remarks):
        assert people.lookup(openid).remark == f"Admin {i}"
    for openid in edited_tags:
        assert [names[t] for t in people.lookup(openid).tagid_list if t != 2] == ["SF Gold"]
    for openid in openids[10:]:
        assert (people.lookup(openid).remark, people.lookup(openid).tagid_list) == \
            before[openid]

    # the same 20 scan again: the bridge writes the new remarks and tags back to their
    # follower records (Remark__c, Tags__c): notified, dropped, nothing goes out again
    scan_in(bridge, openids)
    settle()
    assert writes(bridge) == after_admin
    assert counters.read(bridge.redis)["echoes"] > echoes
    # every write the bridge made to Salesforce named its client; the admin's did not
    clients = sf.writes_by_client()
    assert clients["WeChatBridge"] > 0 and clients[None] >= 10


def test_a_deleted_record_is_read_with_query_all_and_harms_nothing(way_back):
    bridge, sf = way_back, way_back.box.salesforce
    openid = bridge.box.population.new_follower().openid
    scan_in(bridge, [openid])
    lead = record_of(bridge, "Lead", "WeChat_OpenId__c", openid)
    sf.edit("Lead", lead["Id"], {"Description": "Soon gone"})
    sf.delete("Lead", lead["Id"])
    assert poll(bridge.context)["Lead"]["new"] == 1
    work_changes(bridge)
    queue = changes_queue(bridge.redis)
    assert queue.failed_job_registry.count == 0
    assert writes(bridge)["updateremark"] == 0  # a deleted Lead sets no remark


def test_repeated_and_out_of_order_notifications_do_nothing_twice(way_back):
    bridge, sf = way_back, way_back.box.salesforce
    openid = bridge.box.population.new_follower().openid
    scan_in(bridge, [openid])
    lead_id = record_of(bridge, "Lead", "WeChat_OpenId__c", openid)["Id"]

    def message(notification_id: str) -> bytes:
        record = next(r for r in sf.records("Lead") if r["Id"] == lead_id)
        return envelope(sf.org_id, "04k5g0000008OgXAAU", bridge.box.salesforce_url, "62.0",
                        [(notification_id, "Lead", record, ("Description",))]).encode()

    sf.edit("Lead", lead_id, {"Description": "First"})
    older = message("04l5g00000BcNqJAAV")
    sf.edit("Lead", lead_id, {"Description": "Second"})
    newer = message("04l5g00000BcNqKAAV")
    with httpx.Client(headers={"Content-Type": "text/xml; charset=utf-8"}) as http:
        for body in (newer, newer, older):  # a resend, then the older one arriving late
            answer = http.post(outbound_url(bridge), content=body)
            assert (answer.status_code, answer.content) == (200, ACK)
    assert changes_queue(bridge.redis).count == 2  # the resend added no job
    work_changes(bridge)
    assert bridge.box.population.lookup(openid).remark == "Second"
    assert writes(bridge)["updateremark"] == 1


def test_another_orgs_message_is_refused_and_nothing_is_queued(way_back):
    bridge, sf = way_back, way_back.box.salesforce
    openid = bridge.box.population.new_follower().openid
    scan_in(bridge, [openid])
    lead = record_of(bridge, "Lead", "WeChat_OpenId__c", openid)
    body = envelope("00D5g000004ZkLmEAK", "04k5g0000008OgXAAU", "https://x.example", "62.0",
                    [("04l5g00000BcNqJAAV", "Lead", lead, ("Description",))])
    answer = httpx.post(outbound_url(bridge), content=body.encode())
    assert answer.status_code == 403
    assert changes_queue(bridge.redis).count == 0
    # the record names the route, never the secret in its URL
    assert b'"path": "/salesforce/outbound/{secret}"' in bridge.redis.lindex("bridge:rejected", 0)
    assert bridge.box.env["SALESFORCE_OUTBOUND_SECRET"].encode() not in bridge.redis.lindex(
        "bridge:rejected", 0)
    # the 15-character form of the right org is the same org
    ours = body.replace("00D5g000004ZkLmEAK", sf.org_id[:15]).encode()
    ok = httpx.post(outbound_url(bridge), content=ours)
    assert (ok.status_code, ok.content) == (200, ACK)

    # without SALESFORCE_ORG_ID, the org is the one the bridge logs in to
    web = serve(create_app(load_settings(SALESFORCE_ORG_ID=None), bridge.redis,
                           reply=lambda e, m: None))
    try:
        url = outbound_url(bridge).replace(bridge.web.url, web.url)
        assert httpx.post(url, content=ours).content == ACK
        assert httpx.post(url, content=body.encode()).status_code == 403
    finally:
        web.stop()


def test_a_message_that_cannot_be_queued_is_nacked_so_salesforce_resends(way_back):
    sf = way_back.box.salesforce
    settings = load_settings()
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    record = {"Id": "00Q5g00000Ab3XyEAJ", "Description": "x"}
    body = envelope(sf.org_id, "04k5g0000008OgXAAU", "https://x.example", "62.0",
                    [("04l5g00000BcNqJAAV", "Lead", record, ("Description",))])
    web = serve(create_app(settings, down, reply=lambda e, m: None))
    try:
        answer = httpx.post(outbound_url(way_back).replace(way_back.web.url, web.url),
                            content=body.encode())
    finally:
        web.stop()
    assert answer.status_code == 500
    assert b"<soapenv:Fault>" in answer.content and b"Ack" not in answer.content


def test_wechats_refusals_are_counted_and_its_quota_is_waited_for(way_back):
    bridge, sf, people = way_back, way_back.box.salesforce, way_back.box.population
    openids = sorted(people.new_follower().openid for _ in range(3))
    scan_in(bridge, openids)
    for openid in openids:
        follower = record_of(bridge, "WeChat_Follower__c", "OpenId__c", openid)
        sf.edit("WeChat_Follower__c", follower["Id"], {"Tags__c": "SF Gold"})
    lead = record_of(bridge, "Lead", "WeChat_OpenId__c", openids[0])
    sf.edit("Lead", lead["Id"], {"Description": "Quota"})
    faults = bridge.box.wechat.faults
    # the batch of 3 is refused for one follower (at 20 tags): split until they are alone
    faults.add(endpoint="batchtagging", status=200, code="45059", count=2)
    # the remark hits the daily quota: the job waits for WeChat's reset
    faults.add(endpoint="updateremark", status=200, code="45009", count=1)
    poll(bridge.context)
    work_changes(bridge)

    names = {t["id"]: t["name"] for t in people.tags()}
    tagged = [o for o in openids if "SF Gold" in {names[t] for t in people.lookup(o).tagid_list}]
    assert tagged == openids[1:]  # the first was refused, the others tagged
    assert counters.read(bridge.redis)["refused"] == 1
    queue = changes_queue(bridge.redis)
    [waiting] = queue.scheduled_job_registry.get_job_ids()  # the Lead's job, retried later
    assert people.lookup(openids[0]).remark != "Quota"
    queue.scheduled_job_registry.requeue(waiting)  # WeChat's quota reset
    work_changes(bridge)
    assert people.lookup(openids[0]).remark == "Quota"
    assert queue.failed_job_registry.count == 0


def test_the_follower_write_verbs_speak_wechats_errcodes(way_back):
    gateway = way_back.context.wechat.primary
    people = way_back.box.population
    openids = people.openids(subscribed=True)[:2]
    tag_id = gateway.create_tag("SF Verbs")
    with pytest.raises(SkippableError) as exists:
        gateway.create_tag("SF Verbs")
    assert exists.value.code == "45157"
    assert "SF Verbs" in gateway.tag_names().values()  # the cached names were dropped
    gateway.batch_tag(tag_id, openids)
    assert all(tag_id in gateway.tags_of_user(o) for o in openids)
    gateway.batch_untag(tag_id, openids[:1])
    assert tag_id not in gateway.tags_of_user(openids[0])
    with pytest.raises(ValueError, match="at most 50"):
        gateway.batch_tag(tag_id, [openids[0]] * 51)
    with pytest.raises(SkippableError) as too_long:
        gateway.update_remark(openids[0], "a" * 30)  # WeChat wants under 30 bytes
    assert too_long.value.code == "40092"
    gateway.update_remark(openids[0], "a" * 29)
    assert gateway.get_profile(openids[0]).remark == "a" * 29  # not the cached profile

"""The pure step between plans and Salesforce: which writes, in which order."""

from pathlib import Path

import pytest

from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.calls import Ref
from connector.inbound.persons import resolve_persons
from connector.inbound.writes import plan_writes, rounds
from mappings.engine import plan_event
from mappings.loader import load_mapping, parse_mapping

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
MAPPING = load_mapping(DEFAULT)
CAMPAIGN = "7015g00000AbCdEAAZ"


def scan(openid: str, at: int, event: str = "SCAN", mapping=MAPPING):
    key = f"sfc_{CAMPAIGN}" if event == "SCAN" else f"qrscene_sfc_{CAMPAIGN}"
    e = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": openid,
                                  "CreateTime": str(at), "MsgType": "event", "Event": event,
                                  "EventKey": key})
    return plan_event(e, Follower(openid=openid, subscribed=True, remark=f"R{at}"), mapping)


def test_a_new_person_is_created_then_linked_and_made_member_by_reference():
    plans = [scan("oNew", 100, "subscribe")]
    persons = resolve_persons(plans, found={})
    writes = plan_writes(plans, persons)
    assert [(w.action, w.object) for w in writes] == [
        ("upsert", "Lead"), ("upsert", "WeChat_Follower__c"), ("create", "CampaignMember")]
    ref = Ref("Lead", "WeChat_OpenId__c", "oNew")
    assert writes[0].records[0]["WeChat_OpenId__c"] == "oNew"
    assert writes[1].records[0]["Lead__c"] == ref
    assert writes[2].records[0] == {"CampaignId": CAMPAIGN, "LeadId": ref,
                                    "Status": "Responded"}
    assert writes[1].to_json()["records"][0]["Lead__c"] == "@{Lead.WeChat_OpenId__c=oNew}"


def test_writes_go_in_rounds_each_after_the_records_it_points_at():
    found = {("Lead", "WeChat_OpenId__c", "oKnown"): "00Q000000000001AAA"}
    plans = [scan("oNew", 100, "subscribe"), scan("oKnown", 101)]
    writes = plan_writes(plans, resolve_persons(plans, found))
    # the new Lead first; the follower records and the members point at it, not at each
    # other: they go together (one composite call)
    assert [[(w.action, w.object) for w in r] for r in rounds(writes)] == [
        [("upsert", "Lead")],
        [("upsert", "WeChat_Follower__c"), ("create", "CampaignMember")]]
    known = [scan("oKnown", 102)]
    writes = plan_writes(known, resolve_persons(known, found))
    assert [len(r) for r in rounds(writes)] == [2]  # nothing is created: one round


def test_an_interaction_waits_for_its_follower_record_and_statuses_go_alone():
    text = DEFAULT.read_text().replace("  scene_prefix: \"sfc_\"",
                                       "  scene_prefix: \"sfc_\"\n  create_missing_statuses: true",
                                       1)
    mapping = parse_mapping(text, DEFAULT)
    click = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": "oNew",
                                      "CreateTime": "99", "MsgType": "event",
                                      "Event": "CLICK", "EventKey": "menu_1"})
    plans = [plan_event(click, Follower(openid="oNew", subscribed=True), mapping),
             scan("oNew", 100, mapping=mapping)]
    writes = plan_writes(plans, resolve_persons(plans, found={}))
    assert [[w.object for w in r] for r in rounds(writes)] == [
        ["Lead"], ["WeChat_Follower__c"], ["WeChat_Interaction__c"],
        ["CampaignMemberStatus"], ["CampaignMember"]]


@pytest.mark.parametrize(
    ("found", "person_field", "person_id"),
    [
        ({("Contact", "WeChat_OpenId__c", "oKnown"): "003000000000001AAA"}, "ContactId",
         "003000000000001AAA"),
        ({("Lead", "WeChat_OpenId__c", "oKnown"): "00Q000000000001AAA"}, "LeadId",
         "00Q000000000001AAA"),
        ({("Contact", "WeChat_OpenId__c", "oKnown"): "003000000000001AAA",  # Contact first
          ("Lead", "WeChat_OpenId__c", "oKnown"): "00Q000000000001AAA"}, "ContactId",
         "003000000000001AAA"),
    ],
)
def test_a_found_person_is_used_and_nothing_is_created(found, person_field, person_id):
    plans = [scan("oKnown", 100)]
    writes = plan_writes(plans, resolve_persons(plans, found))
    assert [w.object for w in writes] == ["WeChat_Follower__c", "CampaignMember"]
    assert writes[1].records[0][person_field] == person_id


def test_several_scans_by_one_person_make_one_follower_record_and_one_member():
    plans = [scan("oTwice", 200), scan("oTwice", 100, "subscribe"), scan("oOther", 150)]
    writes = plan_writes(plans, resolve_persons(plans, found={}))
    followers = next(w for w in writes if w.object == "WeChat_Follower__c")
    assert sorted(r["OpenId__c"] for r in followers.records) == ["oOther", "oTwice"]
    twice = next(r for r in followers.records if r["OpenId__c"] == "oTwice")
    assert twice["Last_Interaction_At__c"] == "1970-01-01T00:03:20Z"  # the later event wins
    members = next(w for w in writes if w.object == "CampaignMember")
    assert len(members.records) == 2 and members.duplicate_ok
    served = dict(zip((r["LeadId"].key for r in members.records), members.events,
                      strict=True))
    assert len(served["oTwice"]) == 2  # both events are served by the one member


def test_always_fields_update_a_matched_person():
    text = DEFAULT.read_text().replace(
        '    LeadSource:        { value: "WeChat" }',
        '    LeadSource:        { value: "WeChat" }\n'
        '    Title:             { source: follower.remark, on: always }')
    mapping = parse_mapping(text, DEFAULT)
    plans = [scan("oKnown", 100, mapping=mapping)]
    found = {("Lead", "WeChat_OpenId__c", "oKnown"): "00Q000000000001AAA"}
    writes = plan_writes(plans, resolve_persons(plans, found))
    update = next(w for w in writes if w.action == "update")
    assert update.records == ({"Id": "00Q000000000001AAA", "Title": "R100"},)

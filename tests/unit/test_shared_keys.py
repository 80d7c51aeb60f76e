"""Followers who share a person's key in one batch (a UnionID across accounts, an
e-mail): one record per key, and no upsert call carries a key twice (Salesforce refuses
every record of it: "DUPLICATE_VALUE, Duplicate external id specified")."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.chunks import chunks_apart
from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.calls import Ref
from connector.inbound.persons import resolve_persons
from connector.inbound.writes import plan_writes
from mappings.engine import plan_event
from mappings.loader import parse_mapping

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
CAMPAIGN = "7015g00000AbCdEAAZ"


def by_unionid():
    text = DEFAULT.read_text(encoding="utf-8")
    start, end = text.index("\nmatch:"), text.index("\ncreate:")
    text = (text[:start] + "\nmatch:\n  - { object: Lead, field: WeChat_UnionId__c, "
            "source: follower.unionid }\n  - { object: Contact, field: WeChat_OpenId__c, "
            "source: follower.openid }" + text[end:])
    return parse_mapping(text, DEFAULT)


def scan(mapping, account: str, openid: str, unionid: str, at: int, remark: str):
    event = InboundEvent.from_fields({
        "ToUserName": account, "FromUserName": openid, "CreateTime": str(at),
        "MsgType": "event", "Event": "SCAN", "EventKey": f"sfc_{CAMPAIGN}"})
    follower = Follower(openid=openid, subscribed=True, unionid=unionid, remark=remark)
    return plan_event(event, follower, mapping)


def test_followers_sharing_a_key_make_one_person_record_serving_all_their_events():
    mapping = by_unionid()
    plans = [scan(mapping, "gh_a", "oA1", "uSame", 100, "Ann"),
             scan(mapping, "gh_b", "oB1", "uSame", 101, "Ann B"),
             scan(mapping, "gh_a", "oA2", "uOther", 102, "Bo")]
    writes = plan_writes(plans, resolve_persons(plans, found={}))
    leads = writes[0]
    assert (leads.action, leads.object, leads.key_field) == ("upsert", "Lead",
                                                             "WeChat_UnionId__c")
    assert [r["WeChat_UnionId__c"] for r in leads.records] == ["uSame", "uOther"]
    assert leads.records[0]["LastName"] == "Ann B"  # the later follower's, as a 2nd upsert
    assert sorted(leads.events[0]) == sorted((plans[0].key, plans[1].key))
    followers = next(w for w in writes if w.object == "WeChat_Follower__c")
    assert {r["Lead__c"] for r in followers.records[:2]} == {
        Ref("Lead", "WeChat_UnionId__c", "uSame")}


@pytest.mark.parametrize(("keys", "size", "pieces"), [
    (["a", "b", "c"], 2, [[0, 1], [2]]),  # no repeats: as chunks()
    (["a", "b", "a", "c", "a"], 200, [[0, 1, 3], [2], [4]]),  # a key's order kept
    (["a", "a", "b", "c"], 2, [[0, 2], [1, 3]]),
    ([None, None, "x", "x"], 3, [[0, 1, 2], [3]]),  # None shares nothing
])
def test_chunks_apart_never_put_a_key_twice_in_a_piece(keys, size, pieces):
    assert chunks_apart(keys, size, lambda k: k) == pieces

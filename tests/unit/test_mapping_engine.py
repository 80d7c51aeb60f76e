"""The pure core: event + follower + mapping → write plan, as tables of cases."""

import hashlib
from pathlib import Path

import pytest
import yaml

from connector.events import InboundEvent
from connector.follower import Follower
from mappings.engine import UnmappedEvent, plan_event, render, resolve_campaign
from mappings.loader import MappingLoader, load_mapping, parse_mapping
from mappings.models import FieldRule

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
DEFAULT_TEXT = DEFAULT_PATH.read_text()
MAPPING = load_mapping(DEFAULT_PATH)
CAMPAIGN = "7015g00000AbCdEAAZ"


def push(event=None, key=None, msg_type="event", create_time="1700000000", **extra):
    fields = {"ToUserName": "gh_10f6c3c3ac5a", "FromUserName": "oFollower1",
              "CreateTime": create_time, "MsgType": msg_type, **extra}
    if event:
        fields["Event"] = event
    if key is not None:
        fields["EventKey"] = key
    return InboundEvent.from_fields(fields)


FOLLOWER = Follower(openid="oFollower1", subscribed=True, unionid="uUnion1",
                    subscribe_time=1700000000, language="zh_CN", remark="",
                    tag_names=("VIP", "Shanghai"), subscribe_scene="ADD_SCENE_QR_CODE")


@pytest.mark.parametrize(
    ("event", "campaign", "status", "person"),
    [
        (push("subscribe", f"qrscene_sfc_{CAMPAIGN}"), CAMPAIGN, "Responded", True),
        (push("SCAN", f"sfc_{CAMPAIGN}"), CAMPAIGN, "Scanned", True),
        (push("subscribe"), None, None, True),  # a follow from search: no campaign
        (push("subscribe", "qrscene_other_123"), None, None, True),  # not our prefix
        (push("unsubscribe"), None, None, False),
    ],
)
def test_campaign_and_person_per_event_kind(event, campaign, status, person):
    plan = plan_event(event, FOLLOWER, MAPPING)
    assert plan.campaign_id == campaign
    assert plan.member_status == status
    assert (plan.person is not None) is person


@pytest.mark.parametrize(
    ("scene", "expected"),
    [
        (f"sfc_{CAMPAIGN}", CAMPAIGN),
        ("sfc_7015g00000AbCdE", "7015g00000AbCdE"),  # 15-character ids are ids too
        ("sfc_0015g00000AbCdEAAZ", None),  # an Account id is no campaign
        ("sfc_", None),
        (None, None),
    ],
)
def test_resolve_campaign(scene, expected):
    assert resolve_campaign(scene, MAPPING)[0] == expected


def test_follower_fields_and_blank_values_left_out():
    plan = plan_event(push("subscribe", f"qrscene_sfc_{CAMPAIGN}"), FOLLOWER, MAPPING)
    assert plan.follower_object == "WeChat_Follower__c"
    assert plan.follower_key_field == "OpenId__c"
    fields = plan.follower_fields
    assert fields["Subscribed__c"] is True
    assert fields["Subscribed_At__c"] == "2023-11-14T22:13:20Z"
    assert fields["Tags__c"] == "VIP;Shanghai"
    assert fields["QR_Scene__c"] == f"sfc_{CAMPAIGN}"
    assert fields["Account_Id__c"] == "gh_10f6c3c3ac5a"
    assert "Remark__c" not in fields  # blank WeChat value never overwrites Salesforce


def test_person_plan_matches_contact_then_lead_and_creates_lead_by_openid():
    plan = plan_event(push("subscribe"), FOLLOWER, MAPPING)
    person = plan.person
    assert [(lk.object, lk.field, lk.value) for lk in person.lookups] == [
        ("Contact", "WeChat_OpenId__c", "oFollower1"),
        ("Lead", "WeChat_OpenId__c", "oFollower1"),
    ]
    assert person.create_object == "Lead"
    assert person.create_key.field == "WeChat_OpenId__c"
    assert person.create_fields == {"LastName": "WeChat Follower", "Company": "WeChat",
                                    "LeadSource": "WeChat", "WeChat_UnionId__c": "uUnion1"}


def test_remark_becomes_last_name_when_present():
    follower = Follower(openid="oFollower1", subscribed=True, remark="Wang Lei")
    plan = plan_event(push("subscribe"), follower, MAPPING)
    assert plan.person.create_fields["LastName"] == "Wang Lei"


def test_unsubscribe_writes_state_only():
    plan = plan_event(push("unsubscribe", create_time="1700000100"),
                      Follower(openid="oFollower1", subscribed=False), MAPPING)
    assert plan.follower_fields["Subscribed__c"] is False
    assert plan.follower_fields["Unsubscribed_At__c"] == "2023-11-14T22:15:00Z"
    assert plan.person is None and plan.link_fields == {}


@pytest.mark.parametrize("event", [push("scancode_push", "MENU_1"),
                                   push(msg_type="link", Url="http://x/1", MsgId="123")])
def test_kinds_without_rule_are_unmapped(event):
    with pytest.raises(UnmappedEvent, match="no rule for"):
        plan_event(event, FOLLOWER, MAPPING)


def test_plans_are_deterministic():
    event = push("subscribe", f"qrscene_sfc_{CAMPAIGN}")
    assert plan_event(event, FOLLOWER, MAPPING) == plan_event(event, FOLLOWER, MAPPING)


def rule_value(text: str, event=None, follower=FOLLOWER):
    """Render one field rule written in YAML flow style."""
    rule = FieldRule.model_validate(yaml.load(text, Loader=MappingLoader))
    return render(rule, event or push("subscribe", f"qrscene_sfc_{CAMPAIGN}"), follower, None)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{source: follower.language, map: {zh_CN: Chinese, en: English}, default: Other}",
         "Chinese"),
        ("{source: follower.remark, map: {x: y}, default: Unknown}", "Unknown"),  # blank
        ("{source: follower.unionid, map: {zh: y}}", None),  # not in the map, no default
        ("{template: 'WeChat {follower.openid} via {event.scene}'}",
         f"WeChat oFollower1 via sfc_{CAMPAIGN}"),
        ("{template: '{follower.remark}', default: Anonymous}", "Anonymous"),
        ("{source: follower.openid, transform: sha256}",
         hashlib.sha256(b"oFollower1").hexdigest()),
        ("{source: event.scene, transform: 'regex(sfc_(\\w{3}))'}", "701"),
        ("{source: follower.tag_names, transform: 'join(;)|truncate_bytes(5)'}", "VIP;S"),
    ],
)
def test_field_rules(rule, expected):
    assert rule_value(rule) == expected


@pytest.mark.parametrize(
    ("fields", "source", "expected"),
    [
        ({"MsgType": "text", "Content": "价格?", "MsgId": "1"}, "event.content", "价格?"),
        ({"MsgType": "event", "Event": "CLICK", "EventKey": "MENU_PRICES"}, "event.menu_key",
         "MENU_PRICES"),
        ({"MsgType": "event", "Event": "VIEW", "EventKey": "https://x.cn/p"}, "event.url",
         "https://x.cn/p"),
        ({"MsgType": "event", "Event": "LOCATION", "Latitude": "23.137466",
          "Longitude": "113.352425", "Precision": "119.385040"}, "event.latitude", "23.137466"),
        ({"MsgType": "location", "Location_X": "23.134521", "Location_Y": "113.358803",
          "Label": "位置信息", "MsgId": "2"}, "event.label", "位置信息"),
    ],
)
def test_event_sources(fields, source, expected):
    event = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": "oFollower1",
                                      "CreateTime": "1700000000", **fields})
    assert rule_value(f"{{source: {source}}}", event) == expected


def test_a_field_that_flows_only_to_wechat_is_never_written_to_salesforce():
    text = DEFAULT_TEXT.replace(
        '    LeadSource:        { value: "WeChat" }',
        '    LeadSource:        { value: "WeChat" }\n'
        "    Description:       { source: follower.remark, on: always, sync: to_wechat }\n"
        "    Title:             { source: follower.remark, on: always, sync: both }")
    mapping = parse_mapping(text, Path("m.yaml"))
    follower = Follower(openid="oFollower1", subscribed=True, remark="Wang")
    person = plan_event(push("subscribe"), follower, mapping).person
    assert "Description" not in person.create_fields
    assert person.update_fields["Lead"] == {"Title": "Wang"}


@pytest.mark.parametrize(
    ("rule", "follower", "expected"),
    [
        ("{coalesce: [follower.remark, follower.unionid, follower.openid]}", FOLLOWER,
         "uUnion1"),  # the remark is blank: the next source answers
        ("{coalesce: [follower.remark, follower.openid]}",
         Follower(openid="o2", subscribed=True, remark="Li"), "Li"),
        ("{coalesce: [follower.remark, follower.language], default: None Given}",
         Follower(openid="o3", subscribed=True), "None Given"),
        ("{source: follower.subscribe_time, transform: unix_to_date}", FOLLOWER,
         "2023-11-15"),  # 22:13 UTC is the next morning in Shanghai
        ("{source: follower.subscribe_time, transform: 'unix_to_date(UTC)'}", FOLLOWER,
         "2023-11-14"),
    ],
)
def test_coalesce_and_dates_where_the_follower_is(rule, follower, expected):
    assert rule_value(rule, follower=follower) == expected

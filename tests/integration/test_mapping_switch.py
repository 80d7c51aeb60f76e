"""Changing only the mapping file changes what a deployment does: no code, no restart
of anything but the worker's mapping."""

from __future__ import annotations

from connector.settings import DEFAULT_MAPPING
from jobs.status import collect_status
from mappings.loader import parse_mapping
from mappings.org_check import check_against_org

SHIPPED = DEFAULT_MAPPING.read_text()
# The shipped mapping without its engagement capture: these setups decide what they record.
DEFAULT = SHIPPED[:SHIPPED.index("\ncapture:")] + SHIPPED[SHIPPED.index("\nlifecycle:"):]

# "Every follower a Lead": Leads only, Contacts never looked at.
EVERY_FOLLOWER_A_LEAD = DEFAULT.replace(
    "  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }\n", "").replace(
    "    Contact: Contact__c\n", "")

# Contacts first (the default), a custom field written, menu clicks and links recorded.
CONTACTS_FIRST_WITH_CLICKS = DEFAULT.replace(
    "    Language__c:            { source: follower.language }",
    "    Language__c:            { source: follower.language,\n"
    "                              map: { zh_CN: Chinese, en: English }, default: Other }",
) + """
capture:
  object: WeChat_Interaction__c
  external_id: Event_Key__c
  follower_link: Follower__c
  kinds: [click, view]
  fields:
    Kind__c:        { source: event.kind }
    Key__c:         { source: event.menu_key }
    Url__c:         { source: event.url }
    Occurred_At__c: { source: event.create_time, transform: unix_to_datetime }
"""


def use_mapping(bridge, text: str) -> None:
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)


def test_only_the_mapping_changes_what_lands(bridge):
    sf, wx, people = bridge.box.salesforce, bridge.box.wechat, bridge.box.population
    known, other = people.openids(subscribed=True)[:2]
    wx.set_menu([{"type": "click", "name": "Prices", "key": "MENU_PRICES"},
                 {"type": "view", "name": "Shop", "url": "https://shop.example.cn/p/1"}])
    sf.seed("Contact", LastName="Known", WeChat_OpenId__c=known)
    sf.seed("Contact", LastName="Other", WeChat_OpenId__c=other)

    use_mapping(bridge, EVERY_FOLLOWER_A_LEAD)
    for push in (wx.follow(people.new_follower().openid), wx.scan(known, "sfc_x"),
                 wx.click(known, "MENU_PRICES")):
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()
    assert len(sf.records("Lead")) == 2  # the Contact was not looked at: a Lead was made
    assert collect_status(bridge.redis)["unhandled"] == 1  # the click was only kept
    assert sf.records("WeChat_Interaction__c") == []

    use_mapping(bridge, CONTACTS_FIRST_WITH_CLICKS)
    click = wx.click(other, "MENU_PRICES")
    for push in (wx.scan(other, "sfc_x"), click, wx.view(other, "https://shop.example.cn/p/1")):
        assert bridge.sender.deliver(push).acknowledged
    assert bridge.sender.deliver(click).acknowledged  # a resend records nothing twice
    bridge.work()

    assert len(sf.records("Lead")) == 2  # matched to the Contact this time
    follower = next(r for r in sf.records("WeChat_Follower__c") if r["OpenId__c"] == other)
    contact = next(r for r in sf.records("Contact") if r["WeChat_OpenId__c"] == other)
    assert follower["Contact__c"] == contact["Id"]
    language = next(p for p in people.followers() if p.openid == other).language
    assert follower["Language__c"] == {"zh_CN": "Chinese", "en": "English"}.get(language,
                                                                                  "Other")
    interactions = sorted(sf.records("WeChat_Interaction__c"), key=lambda r: r["Kind__c"])
    assert [(r["Kind__c"], r["Key__c"], r["Url__c"]) for r in interactions] == [
        ("event:click", "MENU_PRICES", None),
        ("event:view", None, "https://shop.example.cn/p/1"),
    ]
    assert all(r["Follower__c"] == follower["Id"] for r in interactions)


def test_both_mappings_pass_the_check_against_the_org(bridge):
    for text in (EVERY_FOLLOWER_A_LEAD, CONTACTS_FIRST_WITH_CLICKS):
        problems = check_against_org(parse_mapping(text, DEFAULT_MAPPING), text,
                                     DEFAULT_MAPPING, bridge.context.salesforce.describe)
        assert [str(p) for p in problems if p.severity == "error"] == []
    broken = CONTACTS_FIRST_WITH_CLICKS.replace("follower_link: Follower__c",
                                                "follower_link: Key__c")
    problems = check_against_org(parse_mapping(broken, DEFAULT_MAPPING), broken,
                                 DEFAULT_MAPPING, bridge.context.salesforce.describe)
    assert any("Key__c" in str(p) and "lookup to WeChat_Follower__c" in str(p)
               for p in problems), [str(p) for p in problems]

"""The way_back section: which fields flow back (direction and conflict policy from the
mapping), how records find their followers, how tag text is split; and the record
digest that stops echoes and flip-flops."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.salesforce import parse_identity
from connector.wayback.sync import _digest
from mappings.back_rules import (
    back_rules,
    follower_finder,
    way_back_problems,
)
from mappings.loader import MappingError, parse_mapping

BASE = """
version: 1
follower:
  object: WeChat_Follower__c
  external_id: OpenId__c
  link: { Lead: Lead__c, Contact: Contact__c }
  fields:
    Account_Id__c: { source: event.account }
    Remark__c: { source: follower.remark }
    Tags__c: { source: follower.tag_names, transform: "join(|)|truncate(255)", sync: both }
match:
  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }
  - { object: Lead, field: WeChat_OpenId__c, source: follower.openid }
objects:
  Lead:
    LastName: { source: follower.remark, default: "WeChat Follower", sync: both }
    Company: { value: WeChat }
    Description: { source: follower.remark, sync: to_wechat, on: always,
                   conflict: prefer_salesforce_unless_blank }
  Contact:
    Description: { source: follower.remark, sync: both, on: always, conflict: dont_sync }
"""


def mapping(extra: str = ""):
    return parse_mapping(BASE + extra, Path("test.yaml"))


def test_only_fields_synced_to_wechat_flow_back_and_dont_sync_never_does():
    rules = back_rules(mapping())
    assert {obj: [r.field for r in found] for obj, found in rules.items()} == {
        "WeChat_Follower__c": ["Tags__c"], "Lead": ["LastName", "Description"]}
    tags = rules["WeChat_Follower__c"][0]
    assert (tags.target, tags.separator) == ("tags", "|")  # from join(|)
    last, description = rules["Lead"]
    assert last.target == "remark" and last.wechat_value("WeChat Follower") is None
    assert last.wechat_value("Zhang") == "Zhang"
    assert description.conflict == "prefer_salesforce_unless_blank"


def test_the_section_picks_objects_and_the_tag_separator():
    rules = back_rules(mapping("way_back: { objects: [Lead], tags: { separator: ',' } }"))
    assert list(rules) == ["Lead"]
    rules = back_rules(mapping("way_back: { tags: { separator: ',' } }"))
    assert rules["WeChat_Follower__c"][0].separator == ","
    assert back_rules(mapping("way_back: { enabled: false }")) == {}


def test_a_mapped_value_goes_back_as_what_it_was_mapped_from():
    tags = 'Tags__c: { source: follower.tag_names, transform: "join(|)|truncate(255)", sync: both }'
    text = BASE.replace(tags, "Language__c: { source: follower.remark, map: { Zhang: ZS }, "
                              "sync: both }")
    rule = back_rules(parse_mapping(text, Path("t.yaml")))["WeChat_Follower__c"][0]
    assert rule.wechat_value("ZS") == "Zhang" and rule.wechat_value("Li") == "Li"


def test_records_find_their_followers():
    m = mapping()
    assert follower_finder(m, "WeChat_Follower__c").openid_field == "OpenId__c"
    assert follower_finder(m, "WeChat_Follower__c").account_field == "Account_Id__c"
    assert follower_finder(m, "Lead").openid_field == "WeChat_OpenId__c"
    linked = follower_finder(mapping("way_back: { followers: link }"), "Lead")
    assert (linked.openid_field, linked.link_field) == (None, "Lead__c")
    assert linked.account_field == "Account_Id__c"


def test_whole_file_problems_name_the_fix():
    with pytest.raises(MappingError) as caught:  # the loader reports it at its line
        mapping("way_back: { objects: [Contact] }")
    [(line, _col, why)] = caught.value.problems
    assert line == BASE.count("\n") + 1
    assert "no field rule of Contact has sync: to_wechat or both" in why
    text = BASE.replace("  - { object: Lead, field: WeChat_OpenId__c, source: follower.openid }",
                        "  - { object: Lead, field: Email, source: event.email }").replace(
        "link: { Lead: Lead__c, Contact: Contact__c }", "link: { Contact: Contact__c }")
    with pytest.raises(MappingError, match="records of Lead cannot find their followers"):
        parse_mapping(text, Path("t.yaml"))
    assert way_back_problems(mapping()) == []


def test_the_digest_changes_with_the_values_or_the_followers_only():
    rules = back_rules(mapping())["Lead"]
    record = {"Id": "00Q5g00000Ab3XyEAJ", "LastName": "Zhang", "Description": "VIP",
              "SystemModstamp": "2024-05-01T08:00:00.000+0000"}
    followers = [(None, "o1")]
    same = _digest(record, rules, followers)
    assert _digest({**record, "SystemModstamp": "2024-06-01T08:00:00.000+0000",
                    "Company": "Other"}, rules, followers) == same
    assert _digest({**record, "Description": "VIP!"}, rules, followers) != same
    assert _digest(record, rules, [(None, "o2")]) != same


def test_the_identity_url_gives_org_and_user():
    found = parse_identity("https://login.salesforce.com/id/00D5g000004ZkLmEAK/"
                           "0055g00000A1b2cAAB")
    assert (found.org_id, found.user_id) == ("00D5g000004ZkLmEAK", "0055g00000A1b2cAAB")
    assert parse_identity("https://login.salesforce.com/services/oauth2/userinfo") is None
    assert parse_identity(None) is None

"""Matching and campaign rules end to end: converted Leads, UnionIDs across accounts,
scenes resolved by a Campaign field, statuses that only move forward and are created
where missing."""

from __future__ import annotations

import pytest

from connector.settings import DEFAULT_MAPPING
from mappings.loader import parse_mapping
from sandbox.salesforce import SalesforceError

TEXT = DEFAULT_MAPPING.read_text()


def use_mapping(bridge, *replacements: tuple[str, str]) -> None:
    text = TEXT
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)


def follower_record(bridge, openid: str) -> dict:
    return next(r for r in bridge.box.salesforce.records("WeChat_Follower__c")
                if r["OpenId__c"] == openid)


def test_a_converted_leads_follower_is_linked_to_its_contact(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Expo", IsActive=True)
    openid = bridge.box.population.openids(subscribed=True)[0]
    contact = sf.seed("Contact", LastName="Converted")
    sf.seed("Lead", LastName="Was a lead", Company="Acme", WeChat_OpenId__c=openid,
            IsConverted=True, ConvertedContactId=contact)
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{campaign}")).acknowledged
    bridge.work()
    assert follower_record(bridge, openid)["Contact__c"] == contact
    [member] = sf.records("CampaignMember")
    assert (member["ContactId"], member["LeadId"]) == (contact, None)
    assert bridge.count("Lead") == 1  # nothing created


def test_a_unionid_finds_the_contact_another_account_created(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    population = bridge.box.population
    openid = next(o for o in population.openids(subscribed=False)
                  if population.lookup(o).unionid)
    contact = sf.seed("Contact", LastName="From the other account",
                      WeChat_OpenId__c="oOtherAccount0000000000000001",
                      WeChat_UnionId__c=population.lookup(openid).unionid)
    use_mapping(bridge, ("  - { object: Lead,", "  - { object: Contact, field: "
                         "WeChat_UnionId__c, source: follower.unionid }\n  - { object: Lead,"))
    assert bridge.sender.deliver(wx.follow(openid)).acknowledged
    bridge.work()
    assert follower_record(bridge, openid)["Contact__c"] == contact
    assert bridge.count("Lead") == 0


def test_scene_by_field_statuses_move_forward_only_and_missing_ones_are_created(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Spring", IsActive=True, WeChat_Scene__c="spring24")
    sf.seed("CampaignMemberStatus", CampaignId=campaign, Label="Sent", IsDefault=True,
            SortOrder=1)
    use_mapping(bridge, ('  scene_prefix: "sfc_"', '  scene_prefix: "sfc_"\n'
                         "  resolve: { field: WeChat_Scene__c }\n"
                         "  progression: [Sent, Scanned, Responded]\n"
                         "  create_missing_statuses: true"))
    openid = bridge.box.population.openids(subscribed=True)[1]

    def status_after(push) -> str:
        assert bridge.sender.deliver(push).acknowledged
        bridge.work()
        [member] = sf.records("CampaignMember")
        assert member["CampaignId"] == campaign
        return member["Status"]

    assert status_after(wx.scan(openid, "sfc_spring24")) == "Scanned"
    assert bridge.sender.deliver(wx.unfollow(openid)).acknowledged
    assert status_after(wx.scan(openid, "sfc_spring24")) == "Responded"  # subscribed: forward
    assert status_after(wx.scan(openid, "sfc_spring24")) == "Responded"  # scanned: not back
    statuses = {r["Label"]: r["SortOrder"] for r in sf.records("CampaignMemberStatus")}
    assert statuses == {"Sent": 1, "Scanned": 2, "Responded": 3}

    # the campaign now lists its statuses: a member with another one is refused
    lead = sf.seed("Lead", LastName="L", Company="C")
    with pytest.raises(SalesforceError, match="bad value for restricted picklist"):
        sf.seed("CampaignMember", CampaignId=campaign, LeadId=lead, Status="Subscribed")
    assert sf.records("CampaignMember")[0]["Status"] == "Responded"

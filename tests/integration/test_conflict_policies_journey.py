"""Conflict policies end to end: what an admin typed in Salesforce survives the bridge's
updates as each field's ``conflict:`` says, and preview shows the same writes."""

from __future__ import annotations

import time

from connector.inbound.preview import preview_push
from connector.settings import DEFAULT_MAPPING
from mappings.loader import parse_mapping

LEAD_SOURCE = '    LeadSource:        { value: "WeChat" }'
RULES = """\
    LeadSource:  { value: "WeChat", on: always, conflict: always_salesforce }
    Description: { value: "Follows us on WeChat", on: always,
                   conflict: prefer_salesforce_unless_blank }
    FirstName:   { value: "Fan", on: always, conflict: newest }
    Phone:       { value: "+86 000", on: always, conflict: dont_sync }"""


def test_each_policy_keeps_or_overwrites_what_salesforce_holds(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    text = DEFAULT_MAPPING.read_text()
    assert LEAD_SOURCE in text
    bridge.context.mapping = parse_mapping(text.replace(LEAD_SOURCE, RULES, 1), DEFAULT_MAPPING)
    campaign = sf.seed("Campaign", Name="Expo", IsActive=True)
    noted, blank = bridge.box.population.openids(subscribed=True)[:2]
    leads = {openid: sf.seed("Lead", LastName="Known", Company="Acme", LeadSource="Web",
                             WeChat_OpenId__c=openid, **extra)
             for openid, extra in ((noted, {"Description": "VIP: call before visiting",
                                            "FirstName": "Mei"}),
                                   (blank, {"FirstName": "Li"}))}
    seeded = int(time.time())  # the sandbox sets LastModifiedDate when a record is written
    pushes = [wx.scan(noted, f"sfc_{campaign}", at=seeded - 3600),  # older than the record
              wx.scan(blank, f"sfc_{campaign}", at=seeded + 3600)]  # newer

    original_id = bridge.box.env["WECHAT_ORIGINAL_ID"]
    previews = [preview_push(bridge.context, p.xml(original_id)) for p in pushes]
    updates = [r for preview in previews for w in preview["writes"] if w["action"] == "update"
               for r in w["records"]]
    assert updates == [{"Id": leads[blank], "Description": "Follows us on WeChat",
                        "FirstName": "Fan"}]  # nothing for the noted Lead: all kept

    for push in pushes:
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()
    stored = {r["WeChat_OpenId__c"]: r for r in sf.records("Lead")}
    assert set(stored) == {noted, blank}  # matched, nothing created
    shown = {o: {k: stored[o][k] for k in ("Description", "FirstName", "LeadSource", "Phone")}
             for o in stored}
    assert shown == {
        noted: {"Description": "VIP: call before visiting", "FirstName": "Mei",
                "LeadSource": "Web", "Phone": None},
        blank: {"Description": "Follows us on WeChat", "FirstName": "Fan",
                "LeadSource": "Web", "Phone": None},
    }

"""``mappings preview`` shows exactly what the worker then writes, and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

from connector.inbound.preview import preview_push


def same(expected, stored) -> bool:
    """Equal, reading datetimes as instants (Salesforce stores them in its own format)."""
    if isinstance(expected, str) and isinstance(stored, str) and expected[:2] in ("19", "20"):
        try:
            return (datetime.fromisoformat(expected.replace("Z", "+00:00"))
                    == datetime.fromisoformat(stored.replace("Z", "+00:00")))
        except ValueError:
            pass
    return expected == stored


def find(records, **where):
    return [r for r in records if all(r.get(k) == v for k, v in where.items())]


def test_preview_equals_what_the_worker_writes(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign = sf.seed("Campaign", Name="Label", IsActive=True)
    known = bridge.box.population.openids(subscribed=True)[0]
    sf.seed("Contact", LastName="Known", WeChat_OpenId__c=known)
    newcomer = bridge.box.population.new_follower().openid
    pushes = [wx.scan(newcomer, f"sfc_{campaign}"), wx.scan(known, f"sfc_{campaign}")]
    original_id = bridge.box.env["WECHAT_ORIGINAL_ID"]
    before = {obj: len(sf.records(obj)) for obj in ("Lead", "WeChat_Follower__c",
                                                     "CampaignMember")}
    previews = [preview_push(bridge.context, p.xml(original_id)) for p in pushes]
    assert {obj: len(sf.records(obj)) for obj in before} == before  # nothing written

    for push in pushes:
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()

    ids = {}  # "@{Lead.WeChat_OpenId__c=...}" -> the Id the worker got
    for lead in sf.records("Lead"):
        ids[f"@{{Lead.WeChat_OpenId__c={lead['WeChat_OpenId__c']}}}"] = lead["Id"]
    checked = 0
    for preview in previews:
        for write in preview["writes"]:
            stored = sf.records(write["object"])
            for record in write["records"]:
                record = {k: ids.get(v, v) for k, v in record.items()}
                key = write["key_field"] or "CampaignId"
                matches = [r for r in stored if r.get(key) == record[key]
                           and all(same(v, r.get(k)) for k, v in record.items())]
                assert len(matches) == 1, (write["object"], record)
                checked += 1
    # newcomer: Lead upsert, follower upsert, member; known Contact: follower, member
    assert checked == 5
    assert find(sf.records("CampaignMember"), CampaignId=campaign) and len(
        sf.records("Lead")) == before["Lead"] + 1


def test_preview_command_prints_the_writes(bridge, tmp_path):
    wx = bridge.box.wechat
    push = wx.follow(bridge.box.population.new_follower().openid)
    event_file = tmp_path / "push.xml"
    event_file.write_text(push.xml(bridge.box.env["WECHAT_ORIGINAL_ID"]))
    result = subprocess.run([sys.executable, "-m", "connector.cli", "mappings", "preview",
                             "--event", str(event_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout)
    assert [w["object"] for w in shown["writes"]] == ["Lead", "WeChat_Follower__c"]
    assert shown["writes"][0]["records"][0]["LastName"] == "WeChat Follower"

    event_file.write_text("<xml><oops>")
    result = subprocess.run([sys.executable, "-m", "connector.cli", "mappings", "preview",
                             "--event", str(event_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "not a WeChat push" in result.stderr

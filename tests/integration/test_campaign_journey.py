"""Campaigns as marketers see them: channel codes, members unique per person with their
touches, per-channel figures, engagement, lifecycle stages and the unfollow privacy mode
— all through the real callback, worker and sandboxes."""

from __future__ import annotations

import pytest

from connector.cli import main
from connector.inbound.stats import campaign_stats
from connector.settings import DEFAULT_MAPPING
from mappings.loader import parse_mapping

T0 = 1_790_000_000


def follower_of(bridge, openid):
    return next(r for r in bridge.box.salesforce.records("WeChat_Follower__c")
                if r["OpenId__c"] == openid)


def members(bridge, campaign):
    return {(r["LeadId"] or r["ContactId"]): r
            for r in bridge.box.salesforce.records("CampaignMember")
            if r["CampaignId"][:15] == campaign[:15]}


@pytest.fixture
def fair(bridge):
    """A campaign, its own code and two store codes, and three people who use them."""
    sf, wx, people = bridge.box.salesforce, bridge.box.wechat, bridge.box.population
    campaign = sf.seed("Campaign", Name="Spring fair", IsActive=True)
    main_code, store1, store2 = (f"sfc_{campaign}", f"sfc_{campaign}.store-001",
                                 f"sfc_{campaign}.store-002")
    ann, bob, cat = (people.new_follower().openid for _ in range(3))
    bob_push = wx.follow(bob, at=T0 - 500)  # Bob already follows (no campaign)
    pushes = [bob_push,
              wx.scan(ann, main_code, at=T0),           # Ann follows through the poster
              wx.scan(ann, store1, at=T0 + 10),         # ... and scans two store codes
              wx.scan(ann, store1, at=T0 + 20),
              wx.scan(bob, store1, at=T0 + 30),
              wx.scan(cat, store2, at=T0 + 40),         # Cat follows at store 2,
              wx.unfollow(cat, at=T0 + 50),             # leaves,
              wx.scan(cat, store1, at=T0 + 60)]         # and comes back at store 1
    for push in pushes:
        assert bridge.sender.deliver(push).acknowledged
    assert all(d.acknowledged for d in bridge.sender.storm(pushes[2], 3))  # resends
    bridge.work()
    return campaign, (ann, bob, cat)


def test_members_are_unique_per_person_with_their_touches(bridge, fair):
    campaign, (ann, bob, cat) = fair
    found = members(bridge, campaign)
    assert len(found) == 3  # ten scans, resends and a return: three people, three members
    leads = {r["WeChat_OpenId__c"]: r for r in bridge.box.salesforce.records("Lead")}
    ann_member = found[leads[ann]["Id"]]
    assert ann_member["WeChat_Scans__c"] == 3  # the resent push counted once
    assert ann_member["WeChat_First_Channel__c"] is None  # the campaign's own code
    assert ann_member["WeChat_Last_Channel__c"] == "store-001"
    assert ann_member["WeChat_First_Touch__c"].startswith("2026-09-21T")
    assert ann_member["WeChat_First_Touch__c"] < ann_member["WeChat_Last_Touch__c"]
    cat_member = found[leads[cat]["Id"]]
    assert (cat_member["WeChat_First_Channel__c"], cat_member["WeChat_Last_Channel__c"],
            cat_member["WeChat_Scans__c"]) == ("store-002", "store-001", 2)
    assert leads[cat]["WeChat_Channel__c"] == "store-002"  # the channel the Lead came by
    assert found[leads[bob]["Id"]]["WeChat_First_Channel__c"] == "store-001"
    # Bob's latest scan is the campaign's own code: his member shows no last channel
    assert bridge.sender.deliver(bridge.box.wechat.scan(bob, f"sfc_{campaign}",
                                                        at=T0 + 70)).acknowledged
    bridge.work()
    bob_member = members(bridge, campaign)[leads[bob]["Id"]]
    assert (bob_member["WeChat_First_Channel__c"], bob_member["WeChat_Last_Channel__c"],
            bob_member["WeChat_Scans__c"]) == ("store-001", None, 2)


def test_stats_count_scans_scanners_followers_and_members_per_channel(bridge, fair, capsys):
    campaign, _ = fair
    ctx = bridge.context
    stats = campaign_stats(ctx.salesforce, ctx.redis, ctx.mapping, campaign)
    rows = {r.channel: (r.scans, r.scanners, r.new_followers, r.members) for r in stats.rows}
    assert rows == {None: (1, 1, 1, 1),          # Ann followed through the poster
                    "store-001": (4, 3, 1, 1),   # Ann twice, Bob, Cat's return (a follow)
                    "store-002": (1, 1, 1, 1)}   # Cat's first follow
    total = stats.total
    assert (total.scans, total.scanners, total.new_followers, total.members) == (6, 3, 2, 3)
    assert main(["campaigns", "stats", campaign]) == 0
    out = capsys.readouterr().out
    assert "store-001" in out and "(campaign's own code)" in out
    assert main(["campaigns", "stats", "701000000000000AAA"]) == 1
    assert "no Campaign 701000000000000AAA" in capsys.readouterr().err


def test_stages_move_forward_only_and_follow_salesforce_values(bridge, fair):
    campaign, (ann, bob, cat) = fair
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    wx.set_menu([{"type": "click", "name": "Prices", "key": "MENU_PRICES"}])
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Follower"
    assert bridge.sender.deliver(wx.click(ann, "MENU_PRICES", at=T0 + 100)).acknowledged
    bridge.work()
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Engaged"
    assert bridge.sender.deliver(wx.scan(ann, f"sfc_{campaign}", at=T0 + 110)).acknowledged
    bridge.work()
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Engaged"  # not back to Follower
    lead = next(r for r in sf.records("Lead") if r["WeChat_OpenId__c"] == ann)
    sf.edit("Lead", lead["Id"], {"Status": "Working - Contacted"})  # sales calls Ann
    assert bridge.sender.deliver(wx.scan(ann, f"sfc_{campaign}", at=T0 + 120)).acknowledged
    bridge.work()
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Prospect"
    # an admin sets a stage by hand: the bridge never moves it back
    follower = follower_of(bridge, bob)
    sf.edit("WeChat_Follower__c", follower["Id"], {"Lifecycle_Stage__c": "Customer"})
    assert bridge.sender.deliver(wx.click(bob, "MENU_PRICES", at=T0 + 130)).acknowledged
    bridge.work()
    assert follower_of(bridge, bob)["Lifecycle_Stage__c"] == "Customer"


def test_engagement_is_recorded_and_sets_the_last_interaction(bridge, fair):
    _, (ann, bob, cat) = fair
    wx = bridge.box.wechat
    wx.set_menu([{"type": "click", "name": "Prices", "key": "MENU_PRICES"},
                 {"type": "view", "name": "Shop", "url": "https://x.cn/a"}])
    acts = [wx.click(bob, "MENU_PRICES", at=T0 + 200), wx.view(bob, "https://x.cn/a", at=T0 + 210),
            wx.text(bob, "你好, price?", at=T0 + 220),
            wx.location(bob, 31.23, 121.47, at=T0 + 230)]
    for push in acts:
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()
    kinds = sorted(r["Kind__c"] for r in bridge.box.salesforce.records("WeChat_Interaction__c"))
    assert kinds == ["event:click", "event:location", "event:view", "message:text"]
    # the location report is WeChat's, not Bob's: his last act is the text
    assert follower_of(bridge, bob)["Last_Interaction_At__c"].startswith("2026-09-21T14:17:00")
    assert bridge.sender.deliver(wx.unfollow(bob, at=T0 + 300)).acknowledged
    bridge.work()
    assert follower_of(bridge, bob)["Last_Interaction_At__c"].startswith("2026-09-21T14:17:00")


def test_privacy_mode_erases_the_unfollower_but_keeps_the_counts(bridge, fair):
    campaign, (ann, bob, cat) = fair
    text = DEFAULT_MAPPING.read_text().replace(
        "    # erase: [UnionId__c,", "    erase: [UnionId__c,")
    bridge.context.mapping = parse_mapping(text, DEFAULT_MAPPING)
    before = follower_of(bridge, ann)
    assert before["Language__c"] and before["Lead__c"]
    assert bridge.sender.deliver(bridge.box.wechat.unfollow(ann, at=T0 + 400)).acknowledged
    bridge.work()
    after = follower_of(bridge, ann)
    assert after["UnionId__c"] is None and after["Language__c"] is None
    assert after["Subscribed__c"] is False and after["Lead__c"] == before["Lead__c"]
    assert len(members(bridge, campaign)) == 3
    ctx = bridge.context
    assert campaign_stats(ctx.salesforce, ctx.redis, ctx.mapping, campaign).total.scanners == 3

"""A follower's lifecycle stage follows what sales does in Salesforce, by the way back
(the clock's poll and Outbound Messages), once and without loops; the campaign's funnel
counts it — all on the real callback, worker, Redis and sandboxes."""

from __future__ import annotations

import pytest
from rq import SimpleWorker

from connector.cli import main
from connector.qr.funnel import campaign_funnel
from connector.wayback.changes import run_watches
from connector.wayback.poll import poll
from jobs.queues import changes_queue

T0 = 1_790_000_000


def work_changes(bridge) -> None:
    SimpleWorker([changes_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="WARNING")


def follower_of(bridge, openid: str) -> dict:
    return next(r for r in bridge.box.salesforce.records("WeChat_Follower__c")
                if r["OpenId__c"] == openid)


def lead_of(bridge, openid: str) -> dict:
    return next(r for r in bridge.box.salesforce.records("Lead")
                if r["WeChat_OpenId__c"] == openid)


def queued_objects(bridge) -> list[str]:
    return [job.args[0] for job in changes_queue(bridge.redis).jobs]


@pytest.fixture
def fair(bridge):
    """A campaign with its own code and two store codes: Ann follows through the poster,
    Bob (a follower already) scans at store 1, Cat follows at store 2 and leaves."""
    sf, wx, people = bridge.box.salesforce, bridge.box.wechat, bridge.box.population
    campaign = sf.seed("Campaign", Name="Spring fair", IsActive=True)
    ann, bob, cat = (people.new_follower().openid for _ in range(3))
    for push in [wx.follow(bob, at=T0 - 500),
                 wx.scan(ann, f"sfc_{campaign}", at=T0),
                 wx.scan(bob, f"sfc_{campaign}.store-001", at=T0 + 10),
                 wx.scan(cat, f"sfc_{campaign}.store-002", at=T0 + 20),
                 wx.unfollow(cat, at=T0 + 30)]:
        assert bridge.sender.deliver(push).acknowledged
    bridge.work()
    poll(bridge.context)  # the bridge's own writes: the first look starts the watermarks
    work_changes(bridge)
    return campaign, (ann, bob, cat)


def funnel_lines(bridge, campaign):
    funnel = campaign_funnel(bridge.context.salesforce, bridge.context.mapping, campaign)
    return {s.channel: (s.scanners, s.new_followers, s.stages, s.unfollowed)
            for s in funnel.channels}, funnel


def test_an_email_added_by_sales_identifies_the_follower_after_one_poll(bridge, fair):
    campaign, (ann, bob, _) = fair
    sf = bridge.box.salesforce
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Follower"
    lead = lead_of(bridge, ann)
    sf.edit("Lead", lead["Id"], {"Email": "ann@example.com"})  # sales, in Salesforce

    result = poll(bridge.context)
    assert result["Lead"]["new"] == 1
    work_changes(bridge)
    follower = follower_of(bridge, ann)
    assert follower["Lifecycle_Stage__c"] == "Identified"
    assert follower_of(bridge, bob)["Lifecycle_Stage__c"] == "Follower"  # untouched

    # exactly once: the same change again (a repeated notification) writes nothing
    again = run_watches(bridge.context, "Lead", [lead["Id"]])
    assert again["watches"]["lifecycle"] == {"followers": 1, "moved": 0}
    assert follower_of(bridge, ann)["SystemModstamp"] == follower["SystemModstamp"]

    # no loop: the bridge's write of the stage makes no Lead or Contact change job, and
    # the follower is not written again
    poll(bridge.context)
    assert not {"Lead", "Contact"} & set(queued_objects(bridge))
    work_changes(bridge)
    assert poll(bridge.context)["Lead"]["new"] == 0
    assert changes_queue(bridge.redis).count == 0
    assert follower_of(bridge, ann)["SystemModstamp"] == follower["SystemModstamp"]

    # the funnel counts it
    lines, _ = funnel_lines(bridge, campaign)
    assert lines[None][2]["Identified"] == 1


def test_an_outbound_message_on_the_lead_identifies_the_follower(bridge, fair):
    _, (ann, _, _) = fair
    sf = bridge.box.salesforce
    url = (f"{bridge.web.url}/salesforce/outbound/"
           f"{bridge.box.env['SALESFORCE_OUTBOUND_SECRET']}")
    sf.outbound.add_rule("Lead", ["Email"], url)
    sf.edit("Lead", lead_of(bridge, ann)["Id"], {"Email": "ann@example.com"})
    assert sf.outbound.wait_idle(10)
    assert sf.outbound.deliveries()[-1].acked
    assert queued_objects(bridge) == ["Lead"]
    work_changes(bridge)
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Identified"
    # the stage write notifies nothing (no rule on the follower object) and moves no Lead
    assert sf.outbound.wait_idle(10)
    assert changes_queue(bridge.redis).count == 0


def test_a_contact_makes_a_customer_but_never_moves_a_stage_back(bridge, fair):
    _, (ann, _, _) = fair
    sf = bridge.box.salesforce
    follower = follower_of(bridge, ann)
    sf.edit("WeChat_Follower__c", follower["Id"], {"Lifecycle_Stage__c": "Opportunity"})
    sf.edit("Lead", lead_of(bridge, ann)["Id"], {"Email": "ann@example.com"})
    poll(bridge.context)
    work_changes(bridge)
    assert follower_of(bridge, ann)["Lifecycle_Stage__c"] == "Opportunity"  # not back


def test_the_funnel_counts_scanners_followers_stages_and_unfollows(bridge, fair, capsys):
    campaign, (ann, _, _) = fair
    bridge.box.salesforce.edit("Lead", lead_of(bridge, ann)["Id"], {"Email": "a@example.com"})
    poll(bridge.context)
    work_changes(bridge)
    lines, funnel = funnel_lines(bridge, campaign)
    zero = dict.fromkeys(funnel.stage_names, 0)
    assert lines == {
        None: (1, 1, {**zero, "Follower": 1, "Engaged": 1, "Identified": 1}, 0),  # Ann
        "store-001": (1, 0, {**zero, "Follower": 1}, 0),  # Bob already followed
        "store-002": (1, 1, {**zero, "Follower": 1}, 1),  # Cat followed, then left
    }
    total = funnel.total
    assert (total.scanners, total.new_followers, total.stages["Follower"],
            total.stages["Identified"], total.unfollowed) == (3, 2, 3, 1, 1)

    assert main(["campaigns", "stats", campaign]) == 0
    out = capsys.readouterr().out
    assert "Identified" in out and "unfollowed" in out and "store-002" in out
    with pytest.raises(SystemExit) as exit_:  # a usage error, before any query
        main(["campaigns", "stats", "not-an-id"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'not-an-id' is not a Campaign Id" in err and "Traceback" not in err

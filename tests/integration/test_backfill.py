"""``connector backfill`` against both emulators: an account's existing followers land in
Salesforce once each, resumably, politely, and safely beside live scans."""

from __future__ import annotations

import math

import pytest

from connector.backfill.followers import Treatment, event_for
from connector.backfill.polite import Politeness
from connector.backfill.run import backfill
from connector.backfill.state import BackfillState
from connector.cli.main import main
from connector.errors import FatalError
from connector.follower_holds import claim_followers, release_followers
from connector.salesforce.budget import ApiBudget
from connector.salesforce.limits import ApiUsage

PAGE = 10  # the sandbox's follower list page (start_sandbox's list_page)


class Sleeps:
    """A ``sleep`` that waits for nothing and remembers the waits; ``then`` runs at each."""

    def __init__(self, then=None) -> None:
        self.waits: list[float] = []
        self.then = then

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            self.then(len(self.waits))


def grow(bridge, n: int, scene: str | None) -> list[str]:
    """``n`` more followers; every other one followed through ``scene``'s code."""
    population = bridge.box.population
    added = []
    for i in range(n):
        openid = population.new_follower().openid
        population.follow(openid, scene if scene and i % 2 == 0 else None,
                          at=1_700_000_000 + i)
        added.append(openid)
    return added


def no_campaign_scenes(bridge) -> None:
    """The seeded followers' scenes name campaigns this org lacks: follow them again
    without one, so the counts below are exact."""
    population = bridge.box.population
    for record in population.followers():
        if record.qr_scene_str:
            population.follow(record.openid, None, at=record.subscribe_time)


@pytest.fixture
def org(bridge):
    no_campaign_scenes(bridge)
    campaign = bridge.box.salesforce.seed("Campaign", Name="Poster", IsActive=True)
    added = grow(bridge, 140, f"sfc_{campaign}")
    return bridge, campaign, added


def writes_of(bridge, log: list[str]):
    """Note the OpenId of every WeChat_Follower__c saved from now on."""
    store = bridge.box.salesforce.store
    before = store.before_save

    def noted(obj, record, current):
        if obj.name == "WeChat_Follower__c":
            log.append(record.get("OpenId__c"))
        if before is not None:
            before(obj, record, current)

    store.before_save = noted


def test_every_follower_lands_once_with_its_campaign(org):
    bridge, campaign, added = org
    followers = bridge.box.population.openids(subscribed=True)
    snap = backfill(bridge.context, polite=Politeness(sleep=Sleeps()))

    assert snap.status == "finished"
    assert bridge.count("WeChat_Follower__c") == len(followers)
    assert bridge.count("Lead") == len(followers)
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(added[::2])
    counts = snap.to_dict()
    assert counts["read"] == len(followers) and counts["created"] == len(followers)
    assert counts["matched"] == 0 and counts["skipped"] == 0
    assert counts["pages_done"] == math.ceil(len(followers) / PAGE)
    assert counts["calls_salesforce"] == bridge.box.salesforce.api_calls["total"]
    assert counts["calls_wechat"] > 0

    # a finished backfill is not run again; --restart runs it, matching everyone
    bridge.box.salesforce.reset_counters()
    assert backfill(bridge.context).status == "finished"
    assert bridge.box.salesforce.api_calls["total"] == 0
    again = backfill(bridge.context, restart=True, polite=Politeness(sleep=Sleeps()))
    assert again.to_dict()["matched"] == len(followers)
    assert bridge.count("Lead") == len(followers)
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(added[::2])


def test_a_page_s_batches_written_at_once_land_every_follower_once(org):
    bridge, campaign, added = org
    followers = bridge.box.population.openids(subscribed=True)
    wechat_calls = bridge.context.wechat.api_calls
    snap = backfill(bridge.context, batch=3, polite=Politeness(sleep=Sleeps(), parallel=4))
    assert snap.status == "finished" and snap.to_dict()["read"] == len(followers)
    # each call counted once, though the batches beside each other share the gateway
    assert snap.to_dict()["calls_wechat"] == bridge.context.wechat.api_calls - wechat_calls
    assert bridge.count("Lead") == len(followers)
    assert bridge.count("WeChat_Follower__c") == len(followers)
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(added[::2])
    assert snap.to_dict()["calls_salesforce"] == bridge.box.salesforce.api_calls["total"]


def test_a_stopped_backfill_resumes_without_rewriting_finished_pages(org):
    bridge, campaign, _ = org
    followers = bridge.box.population.openids(subscribed=True)
    first = backfill(bridge.context, stop_after_pages=5, batch=3,
                     polite=Politeness(sleep=Sleeps()))
    assert first.status == "stopped" and first.to_dict()["read"] == 5 * PAGE
    written: list[str] = []
    writes_of(bridge, written)

    final = backfill(bridge.context, batch=3, polite=Politeness(sleep=Sleeps()))
    assert final.status == "finished"
    assert not set(written) & set(followers[:5 * PAGE])  # the finished pages: untouched
    assert sorted(written) == sorted(followers[5 * PAGE:])
    assert final.to_dict()["read"] == len(followers)
    assert final.to_dict()["created"] == len(followers)
    assert bridge.count("Lead") == len(followers)
    assert bridge.count("WeChat_Follower__c") == len(followers)


def test_a_backfill_stopped_by_a_refused_write_resumes_with_that_batch(bridge):
    no_campaign_scenes(bridge)
    followers = bridge.box.population.openids(subscribed=True)
    # Salesforce refuses a batch's write for good: the run stops there
    bridge.box.salesforce.faults.add(endpoint="composite/sobjects", status=400,
                                     code="INVALID_FIELD", count=1)
    with pytest.raises(FatalError):
        backfill(bridge.context, polite=Politeness(sleep=Sleeps()))
    state = BackfillState(bridge.redis, bridge.context.wechat.original_ids[0])
    stopped = state.snapshot()
    assert stopped.status == "stopped" and "INVALID_FIELD" in stopped.why
    assert stopped.counts["read"] == 0  # the batch is not marked done: it is redone
    final = backfill(bridge.context, polite=Politeness(sleep=Sleeps()))
    assert final.status == "finished"
    assert bridge.count("Lead") == len(followers)
    assert bridge.count("WeChat_Follower__c") == len(followers)


def test_a_follower_scanning_during_the_backfill_ends_with_one_lead_and_one_member(org):
    bridge, campaign, added = org
    scanner = added[0]  # followed through the campaign's code: the backfill joins them
    live_owner = "live-job:1"
    events = {}
    profile = bridge.context.wechat.for_account(None).get_profile(scanner)
    account = bridge.context.wechat.original_ids[0]
    events["x"] = event_for(account, profile, Treatment())
    assert claim_followers(bridge.redis, live_owner, events) == set()  # a live batch

    def live_batch_ends(n: int) -> None:
        if n == 1:  # the live job writes the scan, then lets go of the follower
            release_followers(bridge.redis, live_owner, events)
            push = bridge.box.wechat.scan(scanner, f"sfc_{campaign}")
            assert bridge.sender.deliver(push).acknowledged
            bridge.work()

    sleeps = Sleeps(live_batch_ends)  # the live job runs in this thread: one writer
    snap = backfill(bridge.context, polite=Politeness(sleep=sleeps, parallel=1))
    assert sleeps.waits  # the backfill waited for the live batch's follower
    assert snap.status == "finished"
    assert bridge.count("Lead") == len(bridge.box.population.openids(subscribed=True))
    leads = [r for r in bridge.box.salesforce.records("WeChat_Follower__c")
             if r["OpenId__c"] == scanner]
    assert len(leads) == 1
    assert bridge.count("CampaignMember", CampaignId=campaign) == len(added[::2])


def test_a_wechat_quota_hit_waits_and_goes_on(org):
    bridge, _, _ = org
    followers = bridge.box.population.openids(subscribed=True)
    bridge.box.wechat.faults.add(endpoint="user/info/batchget", status=200, code="45009",
                                 count=1)
    state = BackfillState(bridge.redis, bridge.context.wechat.original_ids[0])
    seen: list[str] = []
    sleeps = Sleeps(lambda n: seen.append(state.snapshot().why))
    snap = backfill(bridge.context, polite=Politeness(sleep=sleeps))
    assert len(sleeps.waits) == 1 and sleeps.waits[0] > 0  # until the quota's reset
    assert "45009" in seen[0] or "quota" in seen[0]
    assert snap.status == "finished" and snap.to_dict()["read"] == len(followers)
    assert bridge.count("Lead") == len(followers)


def test_above_the_allocation_the_backfill_waits(org):
    bridge, _, _ = org
    followers = bridge.box.population.openids(subscribed=True)
    budget = ApiBudget.for_settings(bridge.redis, bridge.context.settings)
    budget.observe(ApiUsage(95_000, 100_000), force=True)
    state = BackfillState(bridge.redis, bridge.context.wechat.original_ids[0])
    seen: list[str] = []

    def freed(n: int) -> None:
        seen.append(state.snapshot().why)
        budget.observe(ApiUsage(1_000, 100_000), force=True)

    bridge.box.salesforce.reset_counters()
    sleeps = Sleeps(freed)
    snap = backfill(bridge.context, polite=Politeness(sleep=sleeps))
    assert len(sleeps.waits) == 1 and "SALESFORCE_API_ALLOCATION" in seen[0]
    assert snap.status == "finished" and bridge.count("Lead") == len(followers)


def test_live_events_waiting_pause_the_backfill_between_batches(org):
    bridge, _, _ = org
    waiting = iter([2, 1])
    sleeps = Sleeps()
    snap = backfill(bridge.context, polite=Politeness(
        sleep=sleeps, live_waiting=lambda: next(waiting, 0), yield_seconds=1.0))
    assert sleeps.waits == [1.0, 1.0] and snap.status == "finished"


def test_the_command_and_its_status(org, capsys):
    bridge, _, _ = org
    followers = bridge.box.population.openids(subscribed=True)
    assert main(["backfill", "status"]) == 0
    assert "no backfill has run" in capsys.readouterr().out
    assert main(["backfill", "--no-campaigns"]) == 0
    out = capsys.readouterr()
    assert f"followers read: {len(followers)} of {len(followers)}" in out.out
    assert "backfill:" in out.err  # plain progress lines: the test's stderr is no terminal
    assert bridge.count("CampaignMember") == 0  # --no-campaigns
    assert main(["backfill", "status"]) == 0
    status = capsys.readouterr().out
    assert ": finished" in status and f"persons created: {len(followers)}" in status
    assert "API calls: WeChat" in status


class Killed(BaseException):
    """What a kill between two batches looks like to the run (no handler catches it)."""


def test_a_backfill_killed_inside_a_page_keeps_the_batches_it_wrote(org):
    bridge, _, _ = org
    followers = bridge.box.population.openids(subscribed=True)
    calls = iter(range(100))

    def killed_at_the_third_batch() -> int:
        if next(calls) == 2:
            raise Killed
        return 0

    with pytest.raises(Killed):
        backfill(bridge.context, batch=3, polite=Politeness(
            sleep=Sleeps(), parallel=1, live_waiting=killed_at_the_third_batch))
    state = BackfillState(bridge.redis, bridge.context.wechat.original_ids[0])
    assert state.snapshot().counts["read"] == 6 and state.done_batches() == {0, 1}
    written: list[str] = []
    writes_of(bridge, written)
    final = backfill(bridge.context, batch=3, polite=Politeness(sleep=Sleeps()))
    assert final.status == "finished"
    assert sorted(written) == sorted(followers[6:])  # the two batches written: not again
    assert final.to_dict()["read"] == len(followers)
    assert bridge.count("Lead") == len(followers)


def test_one_backfill_of_an_account_runs_at_a_time(bridge, capsys):
    from connector.errors import ConfigurationError
    from connector.locks import lock

    state = BackfillState(bridge.redis, bridge.context.wechat.original_ids[0])
    assert lock(bridge.redis, state.lock_name, ttl=30).acquire()  # another run holds it
    with pytest.raises(ConfigurationError, match="running already"):
        backfill(bridge.context)
    state.start()  # that run was killed: its state says running, no lock renewed...
    bridge.redis.delete(state.lock_name)  # ...and its lock expired
    assert main(["backfill", "status"]) == 0
    assert "interrupted" in capsys.readouterr().out

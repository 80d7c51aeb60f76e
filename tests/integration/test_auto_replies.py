"""Auto-replies end to end: Campaigns with reply fields in the Salesforce sandbox, the web
app's own replier (safe mode), the sandbox's sender decrypting and reading each passive
reply on its own, and the worker's customer-service fallback through the WeChat
sandbox."""

from __future__ import annotations

import random
import time

import pytest
import yaml

from connector.cli import main
from connector.events import InboundEvent
from connector.messaging import windows
from connector.replies.campaigns import refresh_all, refresh_replies
from connector.replies.sends import reply_after_batch
from connector.settings import DEFAULT_MAPPING, get_settings
from connector.wechat.pushes import parse_fields
from mappings.loader import MappingLoader

WELCOME = "Welcome! Scan a poster to join a campaign."
REPLIES = {
    "text": "WeChat_Auto_Reply__c",
    "article": {"title": "WeChat_Reply_Title__c", "description": "WeChat_Reply_Description__c",
                "picture_url": "WeChat_Reply_Picture_Url__c", "url": "WeChat_Reply_Url__c"},
    "welcome": {"text": WELCOME},
}


def mapping_text(**campaigns) -> str:
    """The shipped mapping with this test's ``replies:`` (and ``campaigns:`` changes)."""
    data = yaml.load(DEFAULT_MAPPING.read_text(encoding="utf-8"), Loader=MappingLoader)  # noqa: S506 - a SafeLoader
    data["replies"] = REPLIES
    data["campaigns"] = {**data.get("campaigns", {}), **campaigns}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.fixture
def bridge(make_bridge):
    return make_bridge(mapping=lambda box: mapping_text())


def event_of(bridge, push) -> InboundEvent:
    return InboundEvent.from_fields(parse_fields(push.xml(bridge.box.wechat.original_id)))


def worker_replies(bridge, pushes):
    """The inbound jobs of ``pushes`` run (they record the followers' windows and send
    the replies the callback could not give), then the fallback runs once more for the
    same events, as in a retried job; its result (which must have sent nothing new)."""
    bridge.work()
    events = [event_of(bridge, p) for p in pushes]
    windows.record_many(bridge.redis, [(e.account, e.openid, e.event, e.create_time)
                                       for e in events])
    return reply_after_batch(bridge.context, events)


def campaign(sf, name: str, **reply_fields) -> str:
    return sf.seed("Campaign", Name=name, IsActive=True, **reply_fields)


def refresh(bridge) -> int:
    return refresh_replies(bridge.context, bridge.box.salesforce.records("Campaign"))


def customs(bridge) -> list:
    return [m for m in bridge.box.wechat.sent_messages if m.kind == "custom"]


def test_a_cached_text_reply_is_the_passive_reply_and_costs_no_api_call(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    spring = campaign(sf, "Spring", WeChat_Auto_Reply__c="Thanks for scanning 春天!")
    assert refresh(bridge) == 1
    follower = bridge.box.population.openids()[0]
    stranger = bridge.box.population.new_follower().openid
    sf_calls, wx_calls = sf.api_calls["total"], sum(wx.api_calls.values())

    scan = bridge.sender.deliver(wx.scan(follower, f"sfc_{spring}"))
    follow = bridge.sender.deliver(wx.scan(stranger, f"sfc_{spring[:15]}.store-042"))

    for delivery, openid in ((scan, follower), (follow, stranger)):
        assert delivery.acknowledged and delivery.body.startswith("<xml>\n<Encrypt>")
        reply = delivery.passive
        assert (reply.msg_type, reply.content) == ("text", "Thanks for scanning 春天!")
        assert (reply.to_user, reply.from_user) == (openid, wx.original_id)
    assert (sf.api_calls["total"], sum(wx.api_calls.values())) == (sf_calls, wx_calls)
    # answered passively: the worker sends nothing more
    assert worker_replies(bridge, []).sent == []
    assert customs(bridge) == []


def test_an_article_campaign_replies_with_its_article_and_resends_get_it_again(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    sale = campaign(sf, "Sale", WeChat_Auto_Reply__c="ignored: the article wins",
                    WeChat_Reply_Title__c="Spring sale <50%>",
                    WeChat_Reply_Description__c="Only this week & online",
                    WeChat_Reply_Picture_Url__c="https://example.com/p.jpg",
                    WeChat_Reply_Url__c="https://example.com/sale?a=1&b=2")
    refresh(bridge)
    push = wx.scan(bridge.box.population.openids()[1], f"sfc_{sale}.hall")
    deliveries = bridge.sender.storm(push, 3)  # WeChat's parallel resends of one push
    for delivery in deliveries:
        assert delivery.passive.msg_type == "news"
        assert delivery.passive.articles == ({
            "title": "Spring sale <50%>", "description": "Only this week & online",
            "picurl": "https://example.com/p.jpg",
            "url": "https://example.com/sale?a=1&b=2"},)
    assert worker_replies(bridge, [push]).sent == []
    assert customs(bridge) == []


def test_an_uncached_campaign_is_answered_by_one_customer_service_message(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    autumn = campaign(sf, "Autumn", WeChat_Auto_Reply__c="Autumn says hi")
    follower = bridge.box.population.openids()[2]
    prepared = bridge.sender.prepare(push := wx.scan(follower, f"sfc_{autumn}"))
    first = bridge.sender.send(prepared)
    assert first.acknowledged and first.body == "success"  # nothing cached: no API call

    assert worker_replies(bridge, [push]).sent == []  # the job sent it; the retry: nothing
    (message,) = customs(bridge)
    assert (message.to, message.content) == ((follower,), "Autumn says hi")

    # WeChat resending the same push, and the job running again, add nothing
    resend = bridge.sender.send(prepared)
    assert resend.acknowledged and resend.body == "success"
    again = worker_replies(bridge, [push])
    assert again.sent == [] and len(customs(bridge)) == 1
    # the worker cached the reply it read: the next scan is answered passively
    later = bridge.sender.deliver(wx.scan(follower, f"sfc_{autumn}", at=push.create_time + 5))
    assert later.passive.content == "Autumn says hi"


def test_a_failed_send_never_fails_the_job_and_a_retry_may_send_it(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    flaky = campaign(sf, "Flaky", WeChat_Auto_Reply__c="Second time lucky")
    openid = bridge.box.population.openids()[6]
    wx.faults.add(endpoint="/cgi-bin/message/custom/send", status=503, count=1)
    push = wx.scan(openid, f"sfc_{flaky}")
    bridge.sender.deliver(push)
    bridge.work()  # the send fails (503): logged, the member is written all the same
    assert customs(bridge) == [] and bridge.count("CampaignMember", CampaignId=flaky) == 1
    event = event_of(bridge, push)
    assert reply_after_batch(bridge.context, [event]).sent == [event.dedupe_key]  # a retry
    assert [m.content for m in customs(bridge)] == ["Second time lucky"]
    assert reply_after_batch(bridge.context, [event]).sent == []


def test_no_customer_service_message_for_an_event_a_minute_old(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    late = campaign(sf, "Late", WeChat_Auto_Reply__c="Too late")
    push = wx.scan(bridge.box.population.openids()[3], f"sfc_{late}",
                   at=int(time.time()) - 61)
    assert bridge.sender.deliver(push).body == "success"
    result = worker_replies(bridge, [push])
    assert result.sent == [] and customs(bridge) == []
    (reason,) = result.skipped
    assert "s old" in reason


def test_no_customer_service_message_once_the_window_is_used_up(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    shut = campaign(sf, "Shut", WeChat_Auto_Reply__c="No window")
    openid = bridge.box.population.openids()[4]
    push = wx.scan(openid, f"sfc_{shut}")
    # other senders spent the 3 messages this scan allows (recording it again reopens nothing)
    windows.record(bridge.redis, wx.original_id, openid, "scan", push.create_time)
    for _ in range(windows.EVENT_ALLOWANCE):
        assert windows.spend(bridge.redis, wx.original_id, openid, time.time()).granted
    assert bridge.sender.deliver(push).body == "success"
    worker_replies(bridge, [push])
    assert customs(bridge) == []


def test_a_campaign_change_refreshed_changes_the_next_reply(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    promo = campaign(sf, "Promo", WeChat_Auto_Reply__c="Version one")
    refresh(bridge)
    openid = bridge.box.population.openids()[5]
    at = int(time.time()) - 10
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{promo}", at=at)).passive.content == (
        "Version one")

    sf.store.update("Campaign", promo, {"WeChat_Auto_Reply__c": "Version two"})
    (changed,) = [r for r in sf.records("Campaign") if r["Id"] == promo]
    assert refresh_replies(bridge.context, [changed]) == 1
    assert bridge.sender.deliver(wx.scan(openid, f"sfc_{promo}", at=at + 1)).passive.content == (
        "Version two")

    # a change record without the reply fields (a poller selecting only Id) is re-read
    sf.store.update("Campaign", promo, {"WeChat_Auto_Reply__c": None,
                                        "WeChat_Reply_Title__c": "Now an article"})
    assert refresh_replies(bridge.context, [{"Id": promo}]) == 1
    reply = bridge.sender.deliver(wx.scan(openid, f"sfc_{promo}", at=at + 2)).passive
    assert reply.articles[0]["title"] == "Now an article"

    # blank fields: cached as "no reply", so the worker neither queries nor sends
    sf.store.update("Campaign", promo, {"WeChat_Reply_Title__c": None})
    refresh(bridge)
    push = wx.scan(openid, f"sfc_{promo}", at=at + 3)
    assert bridge.sender.deliver(push).body == "success"
    worker_replies(bridge, [push])
    assert customs(bridge) == []
    queries = sf.api_calls.get("query", 0)
    reply_after_batch(bridge.context, [event_of(bridge, push)])
    assert sf.api_calls.get("query", 0) == queries  # "no reply" is cached: not read again


def test_followers_scanning_codes_repeatedly_each_get_the_right_reply(bridge):
    """Several campaign and channel codes, scanned again and again; first follows,
    unfollows and returns: every push gets exactly its reply, passively."""
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    text = campaign(sf, "Text", WeChat_Auto_Reply__c="Hello from the text campaign")
    article = campaign(sf, "Article", WeChat_Reply_Title__c="The article campaign",
                       WeChat_Reply_Url__c="https://example.com/a")
    silent = campaign(sf, "Silent")
    assert refresh_all(bridge.context) == 3
    codes = {f"sfc_{text}": "text", f"sfc_{text}.store-1": "text",
             f"sfc_{text[:15]}.store-2": "text", f"sfc_{article}": "article",
             f"sfc_{article}.mall": "article", f"sfc_{silent}": None}
    people = bridge.box.population.openids()[10:16] + [
        bridge.box.population.new_follower().openid for _ in range(6)]
    rng, at, pushes = random.Random(11), int(time.time()) - 50, []
    for _ in range(4):
        for openid in people:
            at += 1
            following = bridge.box.population.lookup(openid).subscribe
            roll = rng.random()
            if following and roll < 0.15:
                push, expected = wx.unfollow(openid, at=at), None
            elif not following and roll < 0.3:
                push, expected = wx.follow(openid, at=at), "welcome"  # no code
            else:
                code = rng.choice(sorted(codes))
                push, expected = wx.scan(openid, code, at=at), codes[code]
            pushes.append(push)
            reply = bridge.sender.deliver(push).passive
            if expected is None:
                assert reply is None
            elif expected == "text":
                assert reply.content == "Hello from the text campaign"
            elif expected == "article":
                assert reply.articles[0]["title"] == "The article campaign"
            else:
                assert reply.content == WELCOME
            assert reply is None or reply.to_user == openid
    kinds = {p.event for p in pushes}
    assert {"subscribe", "SCAN", "unsubscribe"} <= kinds  # the mix really happened
    # every reply was given passively: the worker has nothing to send
    assert worker_replies(bridge, pushes).sent == [] and customs(bridge) == []


def test_a_scene_field_mapping_replies_with_the_campaign_holding_the_value(make_bridge):
    bridge = make_bridge(mapping=lambda box: mapping_text(
        resolve={"field": "WeChat_Scene__c"}))
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    campaign(sf, "Scene", WeChat_Scene__c="SPRING", WeChat_Auto_Reply__c="Spring by scene")
    openid = bridge.box.population.openids()[0]
    first = wx.scan(openid, "sfc_spring.hall-1")  # Salesforce: case-insensitive
    assert bridge.sender.deliver(first).body == "success"
    worker_replies(bridge, [first])
    assert [m.content for m in customs(bridge)] == ["Spring by scene"]
    second = bridge.sender.deliver(wx.scan(openid, "sfc_SPRING", at=first.create_time + 1))
    assert second.passive.content == "Spring by scene"
    # a value no Campaign holds names no campaign: a follow through it is welcomed
    stranger = bridge.box.population.new_follower().openid
    unknown = wx.scan(stranger, "sfc_WINTER")
    assert bridge.sender.deliver(unknown).body == "success"
    worker_replies(bridge, [unknown])
    assert [m.content for m in customs(bridge)] == ["Spring by scene", WELCOME]


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_cli_refreshes_and_shows_the_cache(bridge, fresh_settings, capsys):
    sf = bridge.box.salesforce
    one = campaign(sf, "One", WeChat_Auto_Reply__c="One's reply")
    two = campaign(sf, "Two")
    assert main(["replies", "show", one]) == 1
    assert "not cached" in capsys.readouterr().out
    assert main(["replies", "refresh", "--campaign", one]) == 0
    assert f"{one[:15]}: text" in capsys.readouterr().out
    assert main(["replies", "show", one]) == 0
    out = capsys.readouterr().out
    assert "text reply (cached" in out and "One's reply" in out
    assert main(["replies", "refresh"]) == 0
    assert "refreshed 2 campaign(s)" in capsys.readouterr().out
    assert main(["replies", "show", two]) == 0
    assert "no reply" in capsys.readouterr().out
    assert main(["replies", "show", "701000000000000"]) == 1

"""Automatic follow-ups end to end: a menu click pushed through the web app, the inbound
worker scheduling the follow-up (rq's scheduled jobs), a worker with its scheduler
sending it when due through the WeChat sandbox (which enforces the service windows and
refuses unfollowers), and the message recorded in the Salesforce sandbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import yaml
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from connector.cli import main
from connector.events import InboundEvent
from connector.followups import store
from connector.inbound.batch import run_batch
from connector.settings import DEFAULT_MAPPING
from connector.wechat.pushes import parse_fields
from jobs.queues import messages_queue
from mappings.loader import MappingLoader

KEY = "CREDIT_CARD"
TEXT = "Thanks for looking at our credit card! Reply 1 to talk to an adviser."
CUSTOM_SEND = "/cgi-bin/message/custom/send"
DELAY = 2  # seconds: within the minute a menu click opens


def mapping_text() -> str:
    data = yaml.load(DEFAULT_MAPPING.read_text(encoding="utf-8"), Loader=MappingLoader)  # noqa: S506 - a SafeLoader
    data["follow_ups"] = [{"name": "credit-card", "trigger": {"kind": "click", "key": KEY},
                           "delay": f"{DELAY} seconds", "text": TEXT,
                           "unless": [{"object": "Lead", "field": "IsConverted",
                                       "equals": True},
                                      {"object": "Lead", "field": "Status",
                                       "equals": "Closed - Converted"}]}]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def with_menu(bridge):
    """The account's menu holds the button (WeChat pushes only keys its menu has)."""
    bridge.box.wechat.set_menu([{"type": "click", "name": "Credit card", "key": KEY}])
    return bridge


@pytest.fixture
def bridge(make_bridge):
    return with_menu(make_bridge(mapping=lambda box: mapping_text()))


def scheduled(bridge) -> list[str]:
    return ScheduledJobRegistry(queue=messages_queue(bridge.redis)).get_job_ids()


def run_due_follow_ups(bridge) -> None:
    """Wait until every scheduled follow-up is due, then run a worker with its scheduler
    once (burst: the scheduler enqueues the due jobs, the worker runs them)."""
    registry = ScheduledJobRegistry(queue=messages_queue(bridge.redis))
    for job_id in registry.get_job_ids():
        due = registry.get_scheduled_time(job_id)
        while datetime.now(UTC) < due:
            time.sleep(0.1)
    SimpleWorker([messages_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, with_scheduler=True, logging_level="WARNING")


def custom_messages(bridge, openid: str) -> list:
    return [m for m in bridge.box.wechat.sent_messages
            if m.kind == "custom" and openid in m.to]


def test_a_click_resent_three_times_brings_exactly_one_customer_service_message(bridge):
    wx, sf = bridge.box.wechat, bridge.box.salesforce
    openid = bridge.box.population.openids()[0]
    prepared = bridge.sender.prepare(wx.click(openid, KEY))
    assert bridge.sender.send(prepared).acknowledged
    bridge.work()
    for _ in range(3):  # WeChat resends the same push (no answer within 5 s)
        assert bridge.sender.send(prepared).acknowledged
    bridge.work()
    # and a replay of the event by an operator, after its job was done
    event = InboundEvent.from_fields(parse_fields(prepared.plaintext))
    run_batch(bridge.context, {event.dedupe_key: event})
    assert len(scheduled(bridge)) == 1
    assert custom_messages(bridge, openid) == []  # not before its delay

    run_due_follow_ups(bridge)
    run_batch(bridge.context, {event.dedupe_key: event})  # replayed after it was sent
    assert scheduled(bridge) == []
    run_due_follow_ups(bridge)  # a second run finds nothing due

    sent = custom_messages(bridge, openid)
    assert [m.body["text"]["content"] for m in sent] == [TEXT]
    [follow_up] = store.listing(bridge.redis)
    assert (follow_up.status, follow_up["channel"], follow_up["rule"]) == (
        "sent", "customer_service", "credit-card")
    # recorded like a message request: the request and its recipient with the outcome
    [request] = [r for r in sf.records("WeChat_Message__c")
                 if r.get("Id") == follow_up["message_id"]]
    assert (request["Channel__c"], request["Target__c"], request["Status__c"],
            request["Content__c"], request["Sent__c"]) == (
        "customer_service", "follower", "Done", TEXT, 1)
    [recipient] = [r for r in sf.records("WeChat_Message_Recipient__c")
                   if r.get("Message__c") == request["Id"]]
    assert (recipient["OpenId__c"], recipient["Status__c"]) == (openid, "sent")
    assert recipient["Follower__c"] == request["Follower__c"] is not None


def test_no_follow_up_reaches_a_follower_who_unfollowed_before_it_was_due(bridge, capsys):
    wx = bridge.box.wechat
    openid = bridge.box.population.openids()[1]
    assert bridge.sender.deliver(wx.click(openid, KEY)).acknowledged
    bridge.work()
    assert len(scheduled(bridge)) == 1
    assert bridge.sender.deliver(wx.unfollow(openid)).acknowledged
    bridge.work()

    run_due_follow_ups(bridge)

    assert custom_messages(bridge, openid) == []
    assert wx.api_calls[CUSTOM_SEND] == 0  # cancelled, not refused by WeChat
    [follow_up] = store.listing(bridge.redis)
    assert follow_up.status == "cancelled"
    assert follow_up["reason"].startswith("unfollowed")
    assert main(["followups", "list"]) == 0
    out = capsys.readouterr().out
    assert "cancelled" in out and "credit-card" in out and "unfollowed" in out
    assert main(["status"]) == 0
    assert "follow-ups: cancelled 1" in capsys.readouterr().out


def test_a_follow_up_is_cancelled_when_its_lead_was_closed_meanwhile(bridge):
    wx, sf = bridge.box.wechat, bridge.box.salesforce
    follow = wx.follow()  # a new follower: the bridge makes their Lead
    openid = follow.openid
    assert bridge.sender.deliver(follow).acknowledged
    assert bridge.sender.deliver(wx.click(openid, KEY)).acknowledged
    bridge.work()
    [follower] = [r for r in sf.records("WeChat_Follower__c") if r["OpenId__c"] == openid]
    # Sales closed the Lead (IsConverted is set by a conversion, which the sandbox lacks)
    sf.edit("Lead", follower["Lead__c"], {"Status": "Closed - Converted"})

    run_due_follow_ups(bridge)

    assert custom_messages(bridge, openid) == []
    [follow_up] = store.listing(bridge.redis)
    assert (follow_up.status, follow_up["reason"]) == (
        "cancelled", 'condition: Lead.Status is "Closed - Converted" on the follower\'s '
        "person")


def template_mapping() -> str:
    data = yaml.safe_load(mapping_text())
    data["follow_ups"][0]["template"] = {
        "id": "TPL_CARD", "url": "https://example.com/card",
        "data": {"first": "Your credit card", "keyword1": {"person": "LastName"},
                 "keyword2": {"source": "follower.openid", "color": "#173177"}}}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_a_template_goes_instead_when_the_window_has_closed(make_bridge):
    bridge = with_menu(make_bridge(mapping=lambda box: template_mapping()))
    wx = bridge.box.wechat
    # A follow and a click pushed late: their minute-long windows closed before the
    # follow-up was due, and the follower wrote nothing (no 48-hour window).
    late = int(time.time()) - 120
    follow = wx.follow(at=late - 10)
    openid = follow.openid
    assert bridge.sender.deliver(follow).acknowledged
    bridge.work()
    assert bridge.sender.deliver(wx.click(openid, KEY, at=late)).acknowledged
    bridge.work()

    run_due_follow_ups(bridge)

    assert custom_messages(bridge, openid) == []
    [template] = [m for m in wx.sent_messages if m.kind == "template" and openid in m.to]
    assert template.body["template_id"] == "TPL_CARD"
    assert template.body["data"] == {
        "first": {"value": "Your credit card"}, "keyword1": {"value": "WeChat Follower"},
        "keyword2": {"value": openid, "color": "#173177"}}
    [follow_up] = store.listing(bridge.redis)
    assert (follow_up.status, follow_up["channel"]) == ("sent", "template")
    assert follow_up["msg_id"]


def test_a_send_a_dead_worker_left_unfinished_is_never_sent_again(bridge):
    wx, sf = bridge.box.wechat, bridge.box.salesforce
    openid = bridge.box.population.openids()[4]
    assert bridge.sender.deliver(wx.click(openid, KEY)).acknowledged
    bridge.work()
    [job_id] = scheduled(bridge)
    # A worker claimed it and died inside WeChat's call: it may have arrived.
    assert store.move(bridge.redis, job_id, "pending", "sending")

    run_due_follow_ups(bridge)

    assert custom_messages(bridge, openid) == []
    follow_up = store.read(bridge.redis, job_id)
    assert follow_up.status == "failed" and follow_up["reason"].startswith("interrupted")
    [recipient] = [r for r in sf.records("WeChat_Message_Recipient__c")
                   if r.get("OpenId__c") == openid]
    assert recipient["Status__c"] == "failed"

"""What WeChat answers per recipient, through the whole message-request path: a
request seeded in the Salesforce sandbox, sent by ``run_request`` through the real
gateways to the WeChat sandbox, recipients written back, WeChat's job-finish pushes
delivered to the bridge's callback and read back into Salesforce.

One recipient's refusal marks that recipient and the send goes on; only a failure of
the request or of the account stops it. A template job-finish report is matched to its
recipient by the msgid the send answered and its OpenID, never by the msgid alone."""

from __future__ import annotations

import time

import pytest

from connector.errors import ConfigurationError, FatalError
from connector.events import InboundEvent
from connector.messaging import windows
from connector.messaging.reports import record_job_finish
from connector.messaging.run import run_request
from connector.messaging.sender import UNKNOWN_IN_A_ROW
from jobs.queues import inbound_queue

TEMPLATE_SEND = "/cgi-bin/message/template/send"
CUSTOM_SEND = "/cgi-bin/message/custom/send"
MESSAGE = "WeChat_Message__c"
RECIPIENT = "WeChat_Message_Recipient__c"


def new_followers(bridge, n: int) -> list[str]:
    """``n`` people who follow the account, each with a Contact and a follower record."""
    population, sf = bridge.box.population, bridge.box.salesforce
    account = bridge.box.wechat.original_id
    now = int(time.time()) - 3600
    openids = []
    for i in range(n):
        openid = population.new_follower().openid
        population.follow(openid, None, now)
        contact = sf.seed("Contact", LastName=f"Follower {i}", WeChat_OpenId__c=openid)
        sf.seed("WeChat_Follower__c", OpenId__c=openid, Contact__c=contact,
                Subscribed__c=True, Account_Id__c=account)
        openids.append(openid)
    return openids


def template_to(bridge, openids: list[str]) -> str:
    """A template request to a campaign of ``openids``' Contacts."""
    sf = bridge.box.salesforce
    campaign = sf.seed("Campaign", Name="Order updates", IsActive=True)
    contacts = {r["WeChat_OpenId__c"]: r["Id"] for r in sf.records("Contact")
                if r.get("WeChat_OpenId__c")}
    for openid in openids:
        sf.seed("CampaignMember", CampaignId=campaign, ContactId=contacts[openid])
    return sf.seed(MESSAGE, Status__c="Requested", Channel__c="template",
                   Target__c="campaign", Campaign__c=campaign,
                   Template_Id__c="TPL_ORDER_SHIPPED", Data__c='{"first": "Shipped"}')


def recipients(bridge, message_id: str) -> dict[str, dict]:
    return {r["OpenId__c"]: r for r in bridge.box.salesforce.records(RECIPIENT)
            if r["Message__c"] == message_id}


def request_record(bridge, message_id: str) -> dict:
    return next(r for r in bridge.box.salesforce.records(MESSAGE) if r["Id"] == message_id)


def test_a_template_to_100_followers_five_of_whom_refuse_it_sends_95(bridge):
    openids = new_followers(bridge, 100)
    refusers = openids[3::20]  # 5, spread through the send
    for openid in refusers:  # their switch in WeChat: the account's templates off
        bridge.box.population.refuse_templates(openid)
    message = template_to(bridge, openids)

    summary = run_request(bridge.context, message)

    assert summary.new == {"sent": 95, "skipped": 5}
    sent = [m.to[0] for m in bridge.box.wechat.sent_messages if m.kind == "template"]
    assert sent == [o for o in openids if o not in refusers]
    rows = recipients(bridge, message)
    for openid in refusers:
        assert rows[openid]["Status__c"] == "skipped"
        assert rows[openid]["Reason__c"].startswith("refused: WeChat 43101: the follower "
                                                    "has turned off")
        assert "user refuse to accept the msg" in rows[openid]["Reason__c"]
    assert {rows[o]["Status__c"] for o in sent} == {"sent"}
    req = request_record(bridge, message)
    assert (req["Status__c"], req["Sent__c"], req["Skipped__c"], req["Error__c"]) == (
        "Done", 95, 5, None)
    assert bridge.box.wechat.api_calls[TEMPLATE_SEND] == 100

    # One turns them on again: a rerun sends to them alone, nobody twice.
    bridge.box.population.refuse_templates(refusers[0], refused=False)
    assert run_request(bridge.context, message).new == {"sent": 1, "skipped": 4}
    assert bridge.box.wechat.api_calls[TEMPLATE_SEND] == 105


def test_an_unknown_errcode_fails_its_recipient_and_an_account_error_stops(bridge):
    first, refuser, last = new_followers(bridge, 3)
    wechat = bridge.box.wechat
    # A code WeChat may add tomorrow, answered to the first call (the first recipient).
    wechat.faults.add(endpoint=TEMPLATE_SEND, status=200, code="43999",
                      message="user has some new setting", count=1)
    bridge.box.population.refuse_templates(refuser)
    message = template_to(bridge, [first, refuser, last])

    summary = run_request(bridge.context, message)

    assert summary.new == {"failed": 1, "skipped": 1, "sent": 1}
    rows = recipients(bridge, message)
    assert rows[first]["Status__c"] == "failed"
    assert rows[first]["Reason__c"].startswith(
        "wechat: WeChat 43999: unknown errcode 43999: user has some new setting")
    assert (rows[refuser]["Status__c"], rows[last]["Status__c"]) == ("skipped", "sent")
    assert request_record(bridge, message)["Status__c"] == "Done"

    # An account-level refusal (the IP whitelist) stops the send at its first call.
    again = template_to(bridge, new_followers(bridge, 3))
    wechat.faults.add(endpoint=TEMPLATE_SEND, status=200, code="40164",
                      message="invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in "
                              "whitelist")
    calls = wechat.api_calls[TEMPLATE_SEND]
    with pytest.raises(ConfigurationError):
        run_request(bridge.context, again)
    assert wechat.api_calls[TEMPLATE_SEND] == calls + 1
    req = request_record(bridge, again)
    assert req["Status__c"] == "Failed" and "IP whitelist" in req["Error__c"]


def test_an_unknown_errcode_answered_to_every_recipient_stops_the_send(bridge):
    openids = new_followers(bridge, UNKNOWN_IN_A_ROW + 3)
    wechat = bridge.box.wechat
    wechat.faults.add(endpoint=TEMPLATE_SEND, status=200, code="43999",
                      message="account has some new restriction")
    message = template_to(bridge, openids)

    with pytest.raises(FatalError) as stopped:
        run_request(bridge.context, message)

    assert wechat.api_calls[TEMPLATE_SEND] == UNKNOWN_IN_A_ROW
    assert f"errcode 43999, which the bridge does not know, to {UNKNOWN_IN_A_ROW} " \
        "recipients in a row" in stopped.value.message
    rows = recipients(bridge, message)
    assert sorted(rows) == sorted(openids[:UNKNOWN_IN_A_ROW])
    assert {r["Status__c"] for r in rows.values()} == {"failed"}
    req = request_record(bridge, message)
    assert req["Status__c"] == "Failed" and "43999" in req["Error__c"]


def test_a_follower_who_unfollowed_inside_their_window_is_skipped_as_unfollowed(bridge):
    writer, stayer = new_followers(bridge, 2)
    account = bridge.box.wechat.original_id
    for openid in (writer, stayer):  # both wrote: their windows are open
        push = bridge.box.wechat.text(openid, "Do you ship to Shanghai?")
        windows.record(bridge.redis, account, openid, "text", push.create_time)
    bridge.box.wechat.unfollow(writer)  # the bridge has not heard of it yet
    sf = bridge.box.salesforce
    followers = {r["OpenId__c"]: r["Id"] for r in sf.records("WeChat_Follower__c")}
    outcomes = {}
    for openid in (writer, stayer):
        message = sf.seed(MESSAGE, Status__c="Requested", Channel__c="customer_service",
                          Target__c="follower", Follower__c=followers[openid],
                          Content__c="Yes, we do!")
        run_request(bridge.context, message)
        outcomes[openid] = recipients(bridge, message)[openid]

    assert outcomes[writer]["Status__c"] == "skipped"
    assert outcomes[writer]["Reason__c"].startswith("unfollowed: WeChat 43004")
    assert outcomes[stayer]["Status__c"] == "sent"
    assert bridge.box.wechat.api_calls[CUSTOM_SEND] == 2


def deliver_job_finishes(bridge) -> list[InboundEvent]:
    """WeChat's job-finish pushes, through the bridge's callback; the events it queued
    (one job per dedupe key: a push the callback took for a resend is not queued)."""
    for push in bridge.box.wechat.outbox.take_pushes():
        assert bridge.sender.deliver(push).acknowledged
    queue = inbound_queue(bridge.redis)
    events = [InboundEvent.from_dict(job.args[0]) for job in queue.jobs]
    queue.empty()
    return events


def test_template_reports_with_msgid_0_each_reach_their_own_send(bridge):
    fan, other = new_followers(bridge, 2)
    outbox = bridge.box.wechat.outbox
    outbox.zero_template_msgids = True  # every template send answers msgid 0
    first = template_to(bridge, [fan, other])
    run_request(bridge.context, first)
    outbox.system_failing.add(fan)  # WeChat fails to deliver the second one to fan
    second = template_to(bridge, [fan])
    run_request(bridge.context, second)
    assert {r["WeChat_Msg_Id__c"] for r in bridge.box.salesforce.records(RECIPIENT)} == {"0"}

    events = deliver_job_finishes(bridge)

    # Three reports, fan's two in the same second maybe, told apart by their Status.
    assert [(e.openid, e.msg_id, e.status) for e in events] == [
        (fan, "0", "success"), (other, "0", "success"), (fan, "0", "failed: system failed")]
    assert record_job_finish(bridge.context, events) == {
        "reports": 3, "recipients": 3, "unknown": []}
    assert {o: r["Status__c"] for o, r in recipients(bridge, first).items()} == {
        fan: "delivered", other: "delivered"}
    mine = recipients(bridge, second)[fan]
    assert (mine["Status__c"], mine["Reason__c"]) == (
        "failed", "wechat: WeChat could not deliver it (system failed)")
    assert (request_record(bridge, first)["Delivered__c"],
            request_record(bridge, second)["Failed__c"]) == (2, 1)
    # WeChat's resends of the same three pushes count nothing again.
    assert record_job_finish(bridge.context, events)["reports"] == 0

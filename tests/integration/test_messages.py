"""Messages from Salesforce through the whole bridge: requests seeded in the Salesforce
sandbox, sent through the real gateways to the WeChat sandbox (which enforces WeChat's
windows and quotas), recipients written back, WeChat's job-finish pushes delivered to
the bridge's callback and read back into Salesforce.

Records are seeded with the sandbox's in-process API (hundreds in milliseconds); what the
bridge does goes over HTTPS like in production. The inbound worker's two duties that are
wired by its owner — recording customer-service windows, handing job-finish events to
``record_job_finish`` — are done here with the same calls it makes.
"""

from __future__ import annotations

import json
import time

import pytest
from rq import SimpleWorker
from rq.job import Job

from connector.cli import main
from connector.events import InboundEvent
from connector.in_call import Pacing
from connector.messaging import quotas, windows
from connector.messaging.dispatch import dispatch_requests
from connector.messaging.reports import record_job_finish
from connector.messaging.rules import RequestError, mass_client_msg_id, template_client_msg_id
from connector.messaging.run import run_request
from connector.messaging.sent_log import SentLog
from connector.settings import get_settings
from connector.wayback.watches import message_watches
from jobs.queues import enqueue_request, inbound_queue, messages_queue

MASS_SEND = "/cgi-bin/message/mass/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
CUSTOM_SEND = "/cgi-bin/message/custom/send"
MESSAGE = "WeChat_Message__c"
RECIPIENT = "WeChat_Message_Recipient__c"


def new_followers(bridge, n: int) -> list[str]:
    """``n`` people follow the account in WeChat and have a follower record and a
    Contact in Salesforce (as the inbound journey leaves them)."""
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


def contact_of(bridge, openid: str) -> str:
    return next(r["Id"] for r in bridge.box.salesforce.records("Contact")
                if r.get("WeChat_OpenId__c") == openid)


def follower_of(bridge, openid: str) -> str:
    return next(r["Id"] for r in bridge.box.salesforce.records("WeChat_Follower__c")
                if r.get("OpenId__c") == openid)


def campaign_with(bridge, openids: list[str], name: str) -> str:
    sf = bridge.box.salesforce
    campaign = sf.seed("Campaign", Name=name, IsActive=True)
    contacts = {r["WeChat_OpenId__c"]: r["Id"] for r in sf.records("Contact")
                if r.get("WeChat_OpenId__c")}
    for openid in openids:
        sf.seed("CampaignMember", CampaignId=campaign, ContactId=contacts[openid])
    return campaign


def request(bridge, **fields) -> str:
    return bridge.box.salesforce.seed(MESSAGE, Status__c="Requested", **fields)


def record(bridge, sobject: str, record_id: str) -> dict:
    return next(r for r in bridge.box.salesforce.records(sobject) if r["Id"] == record_id)


def recipients(bridge, message_id: str) -> dict[str, dict]:
    return {r["OpenId__c"]: r for r in bridge.box.salesforce.records(RECIPIENT)
            if r["Message__c"] == message_id}


def wechat_calls(bridge) -> int:
    return sum(bridge.box.wechat.api_calls.values())


def deliver_job_finishes(bridge) -> list[InboundEvent]:
    """WeChat's job-finish pushes, through the bridge's callback; the events it queued."""
    for push in bridge.box.wechat.outbox.take_pushes():
        assert bridge.sender.deliver(push).acknowledged
    queue = inbound_queue(bridge.redis)
    events = [InboundEvent.from_dict(job.args[0]) for job in queue.jobs]
    queue.empty()
    return [e for e in events if e.event in ("templatesendjobfinish", "masssendjobfinish")]


def test_mass_to_a_campaign_skips_followers_whose_monthly_quota_is_used(bridge):
    openids = new_followers(bridge, 500)
    busy = openids[:100]
    small = campaign_with(bridge, busy, "Four earlier mailings")
    for i in range(4):  # the 100 get their 4 mass messages of the month
        summary = run_request(bridge.context, request(
            bridge, Channel__c="mass", Target__c="campaign", Campaign__c=small,
            Content__c=f"news {i}"))
        assert summary.new == {"sent": 100}
    bridge.box.wechat.outbox.take_pushes()
    assert all(bridge.box.wechat.outbox.mass_received(o) == 4 for o in busy)
    big = campaign_with(bridge, openids, "Spring launch")
    before = bridge.box.wechat.api_calls[MASS_SEND]

    message = request(bridge, Channel__c="mass", Target__c="campaign", Campaign__c=big,
                      Content__c="Spring is here")
    summary = run_request(bridge.context, message)

    assert bridge.box.wechat.api_calls[MASS_SEND] == before + 1
    sent = bridge.box.wechat.sent_messages[-1]
    assert (sent.kind, len(sent.to), set(sent.to), sent.filtered) == (
        "mass", 400, set(openids[100:]), ())
    assert sent.body["clientmsgid"].startswith(message)
    rows = recipients(bridge, message)
    assert len(rows) == 500
    skipped = [r for r in rows.values() if r["Status__c"] == "skipped"]
    assert {r["OpenId__c"] for r in skipped} == set(busy)
    assert all(r["Reason__c"].startswith("quota: 4 mass messages a month") for r in skipped)
    assert {r["WeChat_Msg_Id__c"] for r in rows.values() if r["Status__c"] == "sent"} == {
        str(sent.msgid)}
    assert rows[openids[200]]["Follower__c"] == follower_of(bridge, openids[200])
    assert rows[openids[200]]["Contact__c"] == contact_of(bridge, openids[200])
    req = record(bridge, MESSAGE, message)
    assert (req["Status__c"], req["Sent__c"], req["Skipped__c"], req["Failed__c"],
            req["Send__c"]) == ("Done", 400, 100, 0, False)
    assert summary.new == {"sent": 400, "skipped": 100}
    account = bridge.box.wechat.original_id
    counts = quotas.used(bridge.redis, account, "service", openids, time.time())
    assert {counts[o] for o in busy} == {4} and {counts[o] for o in openids[100:]} == {1}

    # The same request again: nobody is sent anything twice, and no call reaches WeChat.
    calls, written = wechat_calls(bridge), bridge.box.salesforce.api_calls.get("upsert", 0)
    again = run_request(bridge.context, message)
    assert wechat_calls(bridge) == calls
    assert again.new == {"skipped": 100} and again.totals["sent"] == 400
    assert recipients(bridge, message) == rows  # the same skips are not written again
    assert bridge.box.salesforce.api_calls.get("upsert", 0) == written

    # WeChat's job-finish report: every recipient of the job got it.
    events = deliver_job_finishes(bridge)
    assert [e.event for e in events] == ["masssendjobfinish"]
    assert record_job_finish(bridge.context, events)["recipients"] == 400
    assert record_job_finish(bridge.context, events)["reports"] == 0  # counted once
    statuses = [r["Status__c"] for r in recipients(bridge, message).values()]
    assert (statuses.count("delivered"), statuses.count("skipped")) == (400, 100)
    assert record(bridge, MESSAGE, message)["Delivered__c"] == 400


def test_template_messages_use_client_msg_id_and_job_finish_marks_them(bridge):
    fan, blocker, gone = new_followers(bridge, 3)
    bridge.box.wechat.outbox.refusing.add(blocker)
    bridge.box.population.unfollow(gone)
    campaign = campaign_with(bridge, [fan, blocker, gone], "Order updates")
    message = request(bridge, Channel__c="template", Target__c="campaign",
                      Campaign__c=campaign, Template_Id__c="TPL_ORDER_SHIPPED",
                      Data__c='{"first": "Shipped", "keyword1": {"value": "42", '
                              '"color": "#173177"}}', Url__c="https://example.com/o/42")

    summary = run_request(bridge.context, message)

    sent = [m for m in bridge.box.wechat.sent_messages if m.kind == "template"]
    assert [m.to for m in sent] == [(fan,), (blocker,)]
    assert sent[0].body["client_msg_id"] == f"{message}:{fan}"
    assert sent[0].body["data"] == {"first": {"value": "Shipped"},
                                    "keyword1": {"value": "42", "color": "#173177"}}
    assert sent[0].body["url"] == "https://example.com/o/42"
    rows = recipients(bridge, message)
    assert rows[fan]["WeChat_Msg_Id__c"] == str(sent[0].msgid)
    assert rows[gone]["Status__c"] == "skipped"
    assert rows[gone]["Reason__c"].startswith("unfollowed: WeChat 43004")
    assert summary.new == {"sent": 2, "skipped": 1}

    events = deliver_job_finishes(bridge)
    assert sorted(e.openid for e in events) == sorted([fan, blocker])
    assert record_job_finish(bridge.context, events)["recipients"] == 2
    rows = recipients(bridge, message)
    assert rows[fan]["Status__c"] == "delivered"
    assert (rows[blocker]["Status__c"], rows[blocker]["Reason__c"]) == (
        "failed", "wechat: WeChat could not deliver it (user block)")
    req = record(bridge, MESSAGE, message)  # the counts agree with the recipients
    assert (req["Delivered__c"], req["Sent__c"], req["Failed__c"]) == (1, 1, 1)

    calls = bridge.box.wechat.api_calls[TEMPLATE_SEND]
    run_request(bridge.context, message)  # again: the unfollower is tried, nobody resent
    assert bridge.box.wechat.api_calls[TEMPLATE_SEND] == calls + 1
    assert recipients(bridge, message)[fan]["Status__c"] == "delivered"


def test_customer_service_messages_only_inside_windows(bridge):
    writer, silent, scanner = new_followers(bridge, 3)
    account = bridge.box.wechat.original_id
    # What the inbound worker records as the pushes arrive.
    push = bridge.box.wechat.text(writer, "Do you ship to Shanghai?")
    windows.record(bridge.redis, account, writer, "text", push.create_time)
    push = bridge.box.wechat.scan(scanner, "sfc_7015g00000AbCdE")
    windows.record(bridge.redis, account, scanner, "scan", push.create_time)
    campaign = campaign_with(bridge, [writer, silent], "Support follow-up")
    message = request(bridge, Channel__c="customer_service", Target__c="campaign",
                      Campaign__c=campaign, Content__c="Yes, we do!")

    run_request(bridge.context, message)

    rows = recipients(bridge, message)
    assert rows[writer]["Status__c"] == "sent"
    assert (rows[silent]["Status__c"], rows[silent]["Reason__c"][:14]) == (
        "skipped", "window closed:")
    assert [m.to for m in bridge.box.wechat.sent_messages] == [(writer,)]

    # A scan allows 3 messages within the minute; the 4th is not sent.
    outcomes = []
    for i in range(4):
        one = request(bridge, Channel__c="customer_service", Target__c="follower",
                      Follower__c=follower_of(bridge, scanner), Content__c=f"Tip {i}")
        run_request(bridge.context, one)
        outcomes.append(recipients(bridge, one)[scanner])
    assert [o["Status__c"] for o in outcomes] == ["sent"] * 3 + ["skipped"]
    assert outcomes[3]["Reason__c"].startswith("window used up:")
    assert bridge.box.wechat.api_calls[CUSTOM_SEND] == 4


def test_mass_to_a_tag_reads_its_followers_from_wechat(bridge):
    openids = new_followers(bridge, 25)
    population = bridge.box.population
    tag_id = population.create_tag("VIP 2025")
    population.tag(openids[:23], tag_id)
    message = request(bridge, Channel__c="mass", Target__c="tag", Tag__c="VIP 2025",
                      Content__c="Members' evening")

    run_request(bridge.context, message)

    sent = bridge.box.wechat.sent_messages[-1]
    assert set(sent.to) == set(openids[:23])
    # Pages of 10, 10 and 3 (the sandbox's pages are small here), then the empty page
    # (count 0, next_openid "") that ends the list.
    assert bridge.box.wechat.api_calls["/cgi-bin/user/tag/get"] == 4
    assert {r["Follower__c"] for r in recipients(bridge, message).values()} == {
        follower_of(bridge, o) for o in openids[:23]}


def test_the_poller_handler_enqueues_one_job_per_tick_and_failures_say_why(bridge):
    fan = new_followers(bridge, 2)[0]
    follower = follower_of(bridge, fan)
    message = request(bridge, Channel__c="template", Target__c="follower",
                      Follower__c=follower, Template_Id__c="T", Send__c=True)
    untouched = request(bridge, Channel__c="template", Target__c="follower",
                        Follower__c=follower, Template_Id__c="T")
    broken = request(bridge, Channel__c="template", Target__c="follower",
                     Follower__c=follower, Template_Id__c="T", Data__c="{first: Hello}",
                     Send__c=True)
    records = [record(bridge, MESSAGE, m) for m in (message, untouched, broken)]
    [watch] = message_watches(bridge.context)  # what connector/wayback/watches.py registers
    assert (watch.object, watch.fields, watch.handler) == (
        MESSAGE, ("Send__c", "Status__c"), dispatch_requests)

    first = watch.handler(bridge.context, records)
    second = dispatch_requests(bridge.context, records)  # the same change seen again

    assert len(first["enqueued"]) == 2 and second == {"enqueued": [], "already_queued": 2}
    SimpleWorker([messages_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="CRITICAL")
    req = record(bridge, MESSAGE, message)
    assert (req["Status__c"], req["Sent__c"], req["Send__c"]) == ("Done", 1, False)
    assert record(bridge, MESSAGE, untouched)["Status__c"] == "Requested"
    failed = record(bridge, MESSAGE, broken)
    assert (failed["Status__c"], failed["Send__c"]) == ("Failed", False)
    assert failed["Error__c"].startswith("Data__c is not valid JSON")
    assert len(messages_queue(bridge.redis).failed_job_registry) == 1
    with pytest.raises(RequestError):  # the same, run by hand
        run_request(bridge.context, broken)
    assert bridge.box.wechat.api_calls[TEMPLATE_SEND] == 1


def test_a_failed_mass_call_gives_the_quota_back_and_a_rerun_sends(bridge):
    openids = new_followers(bridge, 3)
    campaign = campaign_with(bridge, openids, "Outage")
    message = request(bridge, Channel__c="mass", Target__c="campaign", Campaign__c=campaign,
                      Content__c="Hello")
    # every attempt of the call (a mass send by clientmsgid is tried again within it)
    bridge.box.wechat.faults.add(endpoint=MASS_SEND, status=503, count=Pacing().attempts)
    job_id = enqueue_request(bridge.redis, message)
    SimpleWorker([messages_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="CRITICAL")
    assert Job.fetch(job_id, connection=bridge.redis).get_status() == "scheduled"  # retry
    account = bridge.box.wechat.original_id
    assert set(quotas.used(bridge.redis, account, "service", openids, time.time()).values()) \
        == {0}
    assert record(bridge, MESSAGE, message)["Status__c"] == "Sending"

    summary = run_request(bridge.context, message)

    assert summary.new == {"sent": 3} and bridge.box.wechat.sent_messages[-1].to == tuple(
        openids)
    assert set(quotas.used(bridge.redis, account, "service", openids, time.time()).values()) \
        == {1}


def test_a_send_an_earlier_run_left_claimed_is_never_doubled(bridge):
    fan, *pair = new_followers(bridge, 3)
    ctx, account = bridge.context, bridge.box.wechat.original_id
    wechat = ctx.wechat.for_account(None)
    # A run that died after WeChat took its sends, before it recorded them.
    template = request(bridge, Channel__c="template", Target__c="follower",
                       Follower__c=follower_of(bridge, fan), Template_Id__c="T")
    SentLog(bridge.redis, template).claim([fan], "template", time.time())
    first = wechat.send_template(fan, "T", {}, client_msg_id=template_client_msg_id(
        template, fan))
    campaign = campaign_with(bridge, pair, "Pair")
    mass = request(bridge, Channel__c="mass", Target__c="campaign", Campaign__c=campaign,
                   Content__c="Hi")
    client_msg_id = mass_client_msg_id(mass, pair)
    quotas.reserve(bridge.redis, account, "service", pair, time.time())
    SentLog(bridge.redis, mass).claim(pair, "mass", time.time(), msg_id=client_msg_id)
    job = wechat.send_mass(pair, {"msgtype": "text", "text": {"content": "Hi"}},
                           client_msg_id=client_msg_id)
    service = request(bridge, Channel__c="customer_service", Target__c="follower",
                      Follower__c=follower_of(bridge, fan), Content__c="Hi")
    SentLog(bridge.redis, service).claim([fan], "customer_service", time.time())
    outbox = bridge.box.wechat.outbox
    sends = len(bridge.box.wechat.sent_messages)
    outbox.clock = lambda: time.time() + 120  # the rerun comes minutes later

    run_request(ctx, template)
    run_request(ctx, mass)
    run_request(ctx, service)

    assert len(bridge.box.wechat.sent_messages) == sends  # WeChat sent nothing new
    assert recipients(bridge, template)[fan]["WeChat_Msg_Id__c"] == first
    rows = recipients(bridge, mass)
    assert {r["Status__c"] for r in rows.values()} == {"sent"}
    assert {r["WeChat_Msg_Id__c"] for r in rows.values()} == {job.msg_id}
    assert set(quotas.used(bridge.redis, account, "service", pair, time.time()).values()) \
        == {1}
    interrupted = recipients(bridge, service)[fan]
    assert (interrupted["Status__c"], interrupted["Reason__c"][:12]) == ("failed",
                                                                         "interrupted:")


def test_a_mass_job_wechat_partly_filtered_keeps_its_recipients_sent(bridge):
    openids = new_followers(bridge, 3)
    wechat = bridge.context.wechat.for_account(None)
    for i in range(4):  # four mass messages from the WeChat console, not the bridge
        wechat.send_mass(openids[:2], {"msgtype": "text", "text": {"content": "x"}},
                         client_msg_id=f"console-{i}")
    bridge.box.wechat.outbox.take_pushes()
    campaign = campaign_with(bridge, openids, "After the console")
    message = request(bridge, Channel__c="mass", Target__c="campaign", Campaign__c=campaign,
                      Content__c="Hello")

    run_request(bridge.context, message)
    record_job_finish(bridge.context, deliver_job_finishes(bridge))

    assert bridge.box.wechat.sent_messages[-1].filtered == tuple(openids[:2])
    assert {r["Status__c"] for r in recipients(bridge, message).values()} == {"sent"}
    assert record(bridge, MESSAGE, message)["Delivered__c"] == 1


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_cli_sends_and_reports(bridge, fresh_settings, capsys):
    fan, other, gone = new_followers(bridge, 3)
    bridge.box.population.unfollow(gone)
    sf = bridge.box.salesforce
    for person in sf.records("WeChat_Follower__c"):
        if person["OpenId__c"] == gone:
            sf.store.update("WeChat_Follower__c", person["Id"], {"Subscribed__c": False})
    campaign = campaign_with(bridge, [fan, other, gone], "CLI")

    assert main(["messages", "send", "--mass-text", "Hi all", "--campaign", campaign,
                 "--json"]) == 0
    out = capsys.readouterr()
    message = out.err.split()[1]
    assert json.loads(out.out)["new"] == {"sent": 2, "skipped": 1}
    assert list(json.loads(out.out)["skipped"].values()) == [1]
    assert record(bridge, MESSAGE, message)["Content__c"] == "Hi all"
    assert main(["messages", "send", "--request", message]) == 0
    out = capsys.readouterr().out
    assert "this run: 1 skipped" in out
    assert "  skipped: 1 unfollowed" in out  # the reason, not just the count
    assert main(["messages", "status", message]) == 0
    out = capsys.readouterr().out
    assert "Done  sent 2  delivered 0  skipped 1  failed 0" in out
    assert "1  skipped: unfollowed — no longer follows the account" in out

    assert main(["messages", "send", "--template", "T", "--data", "{bad",
                 "--follower", fan]) == 1
    assert "--data is not valid JSON" in capsys.readouterr().err
    assert main(["messages", "send", "--text", "Hi", "--follower", "o_nobody"]) == 1
    assert "no WeChat_Follower__c record has OpenId__c o_nobody" in capsys.readouterr().err
    assert main(["messages", "send", "--text", "Hi", "--follower", fan]) == 0
    assert "1 skipped" in capsys.readouterr().out  # no window open


def test_a_failed_request_shows_in_the_operators_status(bridge):
    from rq import SimpleWorker

    from jobs.status import collect_status

    missing = "a0Z000000000000AAA"  # no such request
    assert enqueue_request(bridge.redis, missing) is not None
    SimpleWorker([messages_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="ERROR")
    queue = collect_status(bridge.redis)["queues"]["messages"]
    assert queue["failed_count"] == 1
    assert queue["failed"] == [f"message request {missing}"]

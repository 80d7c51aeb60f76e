"""Message requests on the console, over plain HTTP (no browser): requests made in the
Salesforce emulator are sent the real way (the send job on a real RQ worker, through the
WeChat emulator, which enforces its rules; job-finish pushes back through the callback
and the inbound worker), then read from the campaigns page and a request's recipients'
page as a signed-in admin sees them."""

from __future__ import annotations

import html
import re

from rq import SimpleWorker

from connector.ids import id18
from connector.qr.codes import create_code
from jobs.queues import enqueue_request, messages_queue
from tests.browser.test_console_signin import signed_in
from tests.integration.test_messages import (
    MASS_SEND,
    MESSAGE,
    TEMPLATE_SEND,
    campaign_with,
    follower_of,
    new_followers,
)


def send(console, **fields) -> str:
    """A request ticked "send now" in Salesforce, and its send job run by a worker."""
    message = console.box.salesforce.seed(MESSAGE, Status__c="Requested", Send__c=True,
                                          **fields)
    enqueue_request(console.redis, message, "tick")
    SimpleWorker([messages_queue(console.redis)], connection=console.redis).work(
        burst=True, logging_level="CRITICAL")
    return message


def row_of(page: str, message: str) -> str:
    """The text of the request's row on a page, tags dropped."""
    match = re.search(rf'<tr class="request" id="request-{message}".*?</tr>', page, re.S)
    assert match, f"no row for {message}"
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group())).split())
    return re.sub(r" ([,)])|([(]) ", r"\1\2", text)


def campaign_section(page: str, name: str) -> str:
    """The part of the page under the campaign's heading, to the next campaign's."""
    start = page.index(f"<h2>{name} ")
    ends = [i for i in (page.find("<h2>", start + 4),) if i > 0]
    return page[start:min(ends, default=len(page))]


def creator(console, record_id: str) -> str:
    sf = console.box.salesforce
    made_by = next(r for r in sf.records(MESSAGE) if r["Id"] == record_id)["CreatedById"]
    return next(u["Name"] for u in sf.records("User") if u["Id"] == made_by)


def test_requests_and_their_recipients_outcomes_on_the_campaigns_page(console, client,
                                                                       emulator):
    box, wx = console.box, console.box.wechat
    openids = new_followers(console, 120)
    fan, blocker, refuser, gone = openids[:4]
    wx.outbox.refusing.add(blocker)  # takes the send; its job-finish report says failed
    box.population.refuse_templates(refuser)  # 43101
    box.population.unfollow(gone)  # Salesforce does not know yet: 43004
    small = campaign_with(console, [fan, blocker, refuser, gone], "Order updates")
    big = campaign_with(console, openids, "Spring launch")
    for campaign in (small, big):
        create_code(console.context, campaign)

    shipped = send(console, Channel__c="template", Target__c="campaign", Campaign__c=small,
                   Template_Id__c="TPL_ORDER_SHIPPED", Data__c='{"first": "Shipped"}')
    news = send(console, Channel__c="mass", Target__c="campaign", Campaign__c=big,
                Content__c="Spring is here")
    wx.faults.add(endpoint=TEMPLATE_SEND, status=200, code="61999", message="brand new",
                  count=1)
    odd = send(console, Channel__c="template", Target__c="follower",
               Follower__c=follower_of(console, fan), Template_Id__c="TPL_ORDER_SHIPPED")
    wx.faults.add(endpoint=MASS_SEND, status=200, code="45009", message="api freq out of "
                  "limit", count=5)
    later = send(console, Channel__c="mass", Target__c="campaign", Campaign__c=big,
                 Content__c="More spring")
    broken = send(console, Channel__c="template", Target__c="follower",
                  Follower__c=follower_of(console, fan), Template_Id__c="T",
                  Data__c="{first: Hello}")
    for push in wx.outbox.take_pushes():  # WeChat's job-finish reports
        assert console.sender.deliver(push).acknowledged
    console.work()

    signed_in(client, emulator)
    answer = client.get("/console/campaigns")
    assert answer.status_code == 200
    page = answer.text
    orders = campaign_section(page, "Order updates")
    assert f'id="request-{shipped}"' in orders and f'id="request-{news}"' not in orders
    row = row_of(page, shipped)
    assert creator(console, shipped) in row  # who asked: the user who made the record
    assert "template message" in row and "4 recipients" in row and "Done" in row
    assert "1 sent (1 delivered)" in row and "2 skipped" in row and "1 failed" in row
    assert "1 skipped: WeChat errcode 43101, turned off the account's template messages" \
        in row
    assert "1 skipped: WeChat errcode 43004, no longer follows the account" in row
    assert "1 failed: WeChat could not deliver it (user block)" in row
    assert f'href="/console/messages/{shipped}"' in page

    spring = campaign_section(page, "Spring launch")
    assert f'id="request-{news}"' in spring and f'id="request-{later}"' in spring
    assert "mass message" in row_of(page, news) and "120 recipients" in row_of(page, news)
    waiting = row_of(page, later)
    assert "Sending" in waiting and "recipients not found yet" in waiting
    assert "Waiting: WeChat errcode 45009: the daily quota of this API is used up" in waiting
    assert "next try" in waiting

    others = page[page.index('id="other-requests"'):]
    row = row_of(others, odd)
    assert "1 failed: WeChat errcode 61999, unknown errcode 61999: brand new" in row
    row = row_of(others, broken)
    assert "Failed" in row and "Data__c is not valid JSON" in row
    assert 'href="/console#card-bridge-MESSAGE_REQUEST"' in others
    health = client.get("/console").text
    assert 'id="card-bridge-MESSAGE_REQUEST"' in health and broken in health

    # the recipients of the mass message, a hundred at a time, and one outcome only
    first = client.get(f"/console/messages/{news}").text
    assert first.count('<tr class="recipient') == 100
    after = re.search(r'id="next" href="([^"]+)"', first).group(1)
    rest = client.get(html.unescape(after)).text
    assert rest.count('<tr class="recipient') == 20 and 'id="next"' not in rest
    shown = set(re.findall(r'<tr class="recipient \w+"><td><code>([^<]+)</code>',
                           first + rest))
    assert shown == set(openids)
    failed = client.get(f"/console/messages/{shipped}", params={"status": "failed"}).text
    assert failed.count('<tr class="recipient failed"') == 1 and blocker in failed
    assert client.get("/console/messages/not-an-id").status_code == 400
    assert client.get(f"/console/messages/{shipped}", params={"status": "lost"}
                      ).status_code == 400
    nobody = id18(shipped[:3] + "0" * 12)  # a request Id no record has
    assert client.get(f"/console/messages/{nobody}").status_code == 404

    # WeChat's quota is back: the waiting job runs now (as at its time), and waits no more
    wx.faults.clear()
    registry = messages_queue(console.redis).scheduled_job_registry
    [job_id] = [j for j in registry.get_job_ids() if j.startswith(f"message-{later}-")]
    registry.requeue(job_id)
    SimpleWorker([messages_queue(console.redis)], connection=console.redis).work(
        burst=True, logging_level="CRITICAL")
    row = row_of(client.get("/console/campaigns").text, later)
    assert "Done" in row and "Waiting" not in row and "120 recipients" in row

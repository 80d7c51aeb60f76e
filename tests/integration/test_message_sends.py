"""The gateway's message verbs against the WeChat sandbox, which plays WeChat's rules:
customer-service windows (45015, 45047), template ``client_msg_id``, mass ``clientmsgid``
(45065, 45066, 45067), per-follower mass quotas by Beijing month or day, the account's
daily mass calls (45028), and the job-finish pushes that follow each send."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests

from connector.errors import FatalError, RateLimitedError, RetriableError, SkippableError
from connector.messaging.quotas import BEIJING
from connector.settings import load_settings
from connector.wechat import WeChatGateway
from sandbox.wechat import Population
from tests.clocks import Clock
from tests.wechat_served import served_wechat

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "0123456789abcdef0123456789abcdef"
TEXT = {"msgtype": "text", "text": {"content": "Hello"}}



@pytest.fixture
def clock():
    return Clock(datetime(2024, 3, 31, 23, 50, tzinfo=BEIJING).timestamp())


def start(sandbox_tls, monkeypatch, clock, **options):
    """The emulator of these tests, served until the block ends."""
    # Pages of 2 OpenIDs (WeChat's hold 10,000): the gateway must page the lists.
    options.setdefault("list_page", 2)
    return served_wechat(sandbox_tls, monkeypatch, app_id=APP_ID, app_secret=APP_SECRET,
                         clock=clock, **options,
                         population=Population.generate(20, seed=5, subscribed_fraction=1.0))


@pytest.fixture
def ws(sandbox_tls, monkeypatch, clock):
    with start(sandbox_tls, monkeypatch, clock) as ws:
        yield ws


def gateway_for(url: str, redis_conn, clock) -> WeChatGateway:
    settings = load_settings(WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET,
                             WECHAT_TOKEN="spamtest", WECHAT_API_BASE_URL=url,
                             SALESFORCE_CLIENT_ID="x", SALESFORCE_CLIENT_SECRET="x")
    return WeChatGateway(settings, redis_conn, session=requests.Session(), clock=clock)


@pytest.fixture
def gateway(ws, redis_conn, clock):
    gateway = gateway_for(ws.url, redis_conn, clock)
    yield gateway
    gateway._http.close()


def test_customer_service_windows(ws, gateway, clock):
    writer, clicker, silent = ws.population.openids()[:3]
    with pytest.raises(SkippableError) as closed:
        gateway.send_custom(silent, TEXT)
    assert closed.value.code == "45015"
    ws.text(writer, "hi")
    for _ in range(5):  # 5 within 48 hours of a message
        gateway.send_custom(writer, TEXT)
    with pytest.raises(SkippableError) as used:
        gateway.send_custom(writer, TEXT)
    assert used.value.code == "45047"
    ws.set_menu([{"type": "click", "name": "Help", "key": "MENU_HELP"}])
    ws.click(clicker, "MENU_HELP")
    for _ in range(3):  # 3 within a minute of a menu click
        gateway.send_custom(clicker, TEXT)
    assert pytest.raises(SkippableError, gateway.send_custom, clicker, TEXT).value.code == \
        "45047"
    ws.text(writer, "again")  # a new message opens the window afresh
    clock.now += 47 * 3600
    gateway.send_custom(writer, TEXT)
    clock.now += 2 * 3600
    assert pytest.raises(SkippableError, gateway.send_custom, writer, TEXT).value.code == \
        "45015"
    ws.unfollow(silent)
    assert pytest.raises(SkippableError, gateway.send_custom, silent, TEXT).value.code == \
        "43004"


def test_template_client_msg_id_sends_once_within_ten_minutes(ws, gateway, clock):
    fan = ws.population.openids()[0]
    first = gateway.send_template(fan, "TPL", {"first": {"value": "Hi"}}, client_msg_id="m:1")
    assert gateway.send_template(fan, "TPL", {}, client_msg_id="m:1") == first
    assert len(ws.sent_messages) == 1
    clock.now += 601  # WeChat's promise ends after 10 minutes
    assert gateway.send_template(fan, "TPL", {}, client_msg_id="m:1") != first
    [push, _] = ws.outbox.take_pushes()
    assert dict(push.fields) == {"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH",
                                 "MsgID": int(first), "Status": "success"}
    assert push.openid == fan
    with pytest.raises(FatalError) as bad:
        gateway.send_template(fan, "", {})
    assert bad.value.code == "40037" and "My templates" in bad.value.message


def test_mass_clientmsgid_rules(ws, gateway, clock):
    a, b, c = ws.population.openids()[:3]
    sent = gateway.send_mass([a, b], TEXT, client_msg_id="req-1")
    assert not sent.duplicate and sent.msg_data_id
    with pytest.raises(RetriableError) as fast:  # the same clientmsgid within a minute
        gateway.send_mass([a, b], TEXT, client_msg_id="req-1")
    assert (fast.value.code, fast.value.retry_after) == ("45066", 60)
    clock.now += 61
    again = gateway.send_mass([a, c], TEXT, client_msg_id="req-1")
    assert (again.duplicate, again.msg_id) == (True, sent.msg_id)
    assert len(ws.sent_messages) == 1
    with pytest.raises(FatalError):
        gateway.send_mass([a, b], TEXT, client_msg_id="x" * 65)
    with pytest.raises(FatalError) as one:
        gateway.send_mass([a], TEXT, client_msg_id="req-2")
    assert one.value.code == "MASS_SIZE"
    assert ws.api_calls["/cgi-bin/message/mass/send"] == 3  # the last two never left


def test_mass_quota_per_follower_by_beijing_month(ws, gateway, clock):
    a, b, c = ws.population.openids()[:3]
    for i in range(4):
        gateway.send_mass([a, b], TEXT, client_msg_id=f"march-{i}")
    ws.outbox.take_pushes()
    gateway.send_mass([a, c], TEXT, client_msg_id="march-5")
    assert ws.sent_messages[-1].filtered == (a,)
    [push] = ws.outbox.take_pushes()
    counts = {k: v for k, v in push.fields if k.endswith("Count")}
    assert counts == {"TotalCount": 2, "FilterCount": 1, "SentCount": 1, "ErrorCount": 0}
    assert (push.get("Event"), push.get("Status")) == ("MASSSENDJOBFINISH", "send success")
    clock.now += 15 * 60  # 00:05 on April 1st in Beijing: a new month
    gateway.send_mass([a, b], TEXT, client_msg_id="april-1")
    assert ws.sent_messages[-1].filtered == ()
    assert ws.outbox.mass_received(a) == 1


def test_mass_by_tag_names_the_tag_id(ws, gateway):
    tag_id = ws.population.create_tag("Spring VIP 2025")
    fans = ws.population.openids()[:5]
    ws.population.tag(fans, tag_id)
    assert gateway.tag_members(tag_id) == fans
    # Pages of 2, 2 and 1, then the call that answers count 0 and next_openid "".
    assert ws.api_calls["/cgi-bin/user/tag/get"] == 4
    sent = gateway.send_mass_to_tag(tag_id, TEXT, client_msg_id="tag-1")
    message = ws.sent_messages[-1]
    assert message.body["filter"] == {"is_to_all": False, "tag_id": tag_id}
    assert (set(message.to), str(message.msgid)) == (set(fans), sent.msg_id)


def test_a_subscription_account_mass_sends_once_a_day(sandbox_tls, monkeypatch, clock,
                                                      redis_conn):
    with start(sandbox_tls, monkeypatch, clock, account_type="subscription") as ws:
        gateway = gateway_for(ws.url, redis_conn, clock)
        try:
            a, b = ws.population.openids()[:2]
            gateway.send_mass([a, b], TEXT, client_msg_id="day-1")
            with pytest.raises(RateLimitedError) as spent:
                gateway.send_mass([a, b], TEXT, client_msg_id="day-2")
            assert spent.value.code == "45028" and spent.value.retry_after == 600  # midnight
            clock.now += 600
            gateway.send_mass([a, b], TEXT, client_msg_id="day-2")
            assert ws.sent_messages[-1].filtered == ()
        finally:
            gateway._http.close()


def test_a_follower_who_turned_templates_off_is_answered_43101(ws, gateway):
    fan, refuser = ws.population.openids()[:2]
    answer = requests.post(f"{ws.url}/__sandbox__/wechat/template-refusals",
                           json={"openid": refuser}, timeout=5)
    assert answer.json() == {"openid": refuser, "templates_refused": True}
    with pytest.raises(SkippableError) as refused:
        gateway.send_template(refuser, "TPL", {"first": {"value": "Hi"}})
    assert refused.value.code == "43101" and refused.value.request_id
    assert "user refuse to accept the msg" in refused.value.message
    gateway.send_template(fan, "TPL", {"first": {"value": "Hi"}})
    assert [m.to for m in ws.sent_messages] == [(fan,)]  # nothing went to the refuser
    ws.population.refuse_templates(refuser, refused=False)
    gateway.send_template(refuser, "TPL", {"first": {"value": "Hi"}})
    assert ws.sent_messages[-1].to == (refuser,)


def test_template_job_finish_pushes_carry_wechats_fields(ws, gateway):
    fan, failing = ws.population.openids()[:2]
    ws.outbox.system_failing.add(failing)
    ws.outbox.zero_template_msgids = True  # as seen in the field with client_msg_id
    assert gateway.send_template(fan, "TPL", {}, client_msg_id="r:1") == "0"
    first = gateway.send_template(failing, "TPL", {})  # no client_msg_id: a real msgid
    pushes = ws.outbox.take_pushes()
    assert [(p.openid, p.get("MsgID"), p.get("Status")) for p in pushes] == [
        (fan, 0, "success"), (failing, int(first), "failed: system failed")]
    xml = pushes[1].xml(ws.original_id)
    assert xml.startswith(f"<xml><ToUserName><![CDATA[{ws.original_id}]]></ToUserName>"
                          f"<FromUserName><![CDATA[{failing}]]></FromUserName><CreateTime>")
    assert xml.endswith("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA["
                        f"TEMPLATESENDJOBFINISH]]></Event><MsgID>{first}</MsgID><Status>"
                        "<![CDATA[failed: system failed]]></Status></xml>")

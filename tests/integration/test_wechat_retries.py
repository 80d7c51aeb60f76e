"""In-call retries of the WeChat gateway against the WeChat sandbox over HTTPS: "system
busy" (-1), rejected tokens, reset connections and lost answers, and the sends that must
never go out twice."""

from __future__ import annotations

import logging
import random

import pytest
import requests

from connector.errors import RetriableError
from connector.in_call import Pacing
from connector.settings import load_settings
from connector.wechat import WeChatGateway
from sandbox.wechat import Population
from tests.wechat_served import served_wechat

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "0123456789abcdef0123456789abcdef"
USER_INFO = "/cgi-bin/user/info"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
TEXT = {"msgtype": "text", "text": {"content": "Hello"}}


@pytest.fixture
def ws(sandbox_tls, monkeypatch):
    with served_wechat(sandbox_tls, monkeypatch, app_id=APP_ID, app_secret=APP_SECRET,
                       population=Population.generate(20, seed=5,
                                                      subscribed_fraction=1.0)) as sandbox:
        yield sandbox


@pytest.fixture
def gateway(ws, redis_conn):
    settings = load_settings(WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET,
                             WECHAT_TOKEN="spamtest", WECHAT_API_BASE_URL=ws.url,
                             WECHAT_TIMEOUT=0.3,
                             SALESFORCE_CLIENT_ID="x", SALESFORCE_CLIENT_SECRET="x")
    session = requests.Session()
    # the jitter pinned; the waits real (a second at most)
    gateway = WeChatGateway(settings, redis_conn, session=session,
                            pacing=Pacing(rng=random.Random(0)))
    gateway.access_token()  # the faults below are about the calls, not the token
    yield gateway
    session.close()


def test_system_busy_twice_then_an_answer(ws, gateway, caplog):
    openid = ws.population.openids()[0]
    ws.faults.add(endpoint=f"GET {USER_INFO}$", status=200, count=2)  # errcode -1
    with caplog.at_level(logging.WARNING, logger="connector.wechat"):
        assert gateway.get_profile(openid).openid == openid
    assert ws.api_calls[USER_INFO] == 3
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 2
    assert all(r.levelno == logging.WARNING and "-1" in r.getMessage() for r in retries)
    token = ws.tokens.current()
    assert not any(token in r.getMessage() for r in caplog.records)


def test_system_busy_gives_up_after_the_bound(ws, gateway):
    ws.faults.add(endpoint=f"GET {USER_INFO}$", status=200)
    with pytest.raises(RetriableError) as caught:
        gateway.get_profile(ws.population.openids()[0])
    assert caught.value.code == "-1"
    assert ws.api_calls[USER_INFO] == Pacing().attempts


def test_an_expired_token_and_a_busy_system_in_one_call(ws, gateway):
    ws.tokens.expire_all()
    ws.faults.add(endpoint=f"GET {USER_INFO}$", status=200, count=1)
    assert gateway.get_profile(ws.population.openids()[0]).subscribed
    assert ws.api_calls[USER_INFO] == 3  # busy, token expired, answered
    assert ws.api_calls["/cgi-bin/stable_token"] == 2


def test_a_reset_read_is_tried_again(ws, gateway):
    ws.faults.add(endpoint=f"GET {USER_INFO}$", reset=True, count=1)
    assert gateway.get_profile(ws.population.openids()[0]).subscribed
    assert ws.api_calls[USER_INFO] == 2


def test_a_customer_message_whose_answer_was_lost_is_not_sent_again(ws, gateway):
    fan = ws.population.openids()[0]
    ws.text(fan, "hi")  # opens the 48-hour window
    # WeChat takes the message, and answers after the bridge stopped waiting.
    ws.faults.add(endpoint=CUSTOM, latency_ms=800, count=1)
    with pytest.raises(RetriableError) as caught:
        gateway.send_custom(fan, TEXT)
    assert caught.value.code == "TIMEOUT"
    assert ws.api_calls[CUSTOM] == 1


def test_a_customer_message_on_a_reset_connection_is_not_sent_again(ws, gateway):
    fan = ws.population.openids()[0]
    ws.text(fan, "hi")
    ws.faults.add(endpoint=CUSTOM, reset=True, count=1)
    with pytest.raises(RetriableError) as caught:
        gateway.send_custom(fan, TEXT)
    assert caught.value.code == "NETWORK"
    assert ws.api_calls[CUSTOM] == 1


def test_a_customer_message_refused_as_busy_is_sent_again(ws, gateway):
    fan = ws.population.openids()[0]
    ws.text(fan, "hi")
    ws.faults.add(endpoint=CUSTOM, status=200, count=1)  # -1: WeChat did not take it
    gateway.send_custom(fan, TEXT)
    assert ws.api_calls[CUSTOM] == 2
    assert len(ws.sent_messages) == 1


def test_a_template_message_with_its_key_is_sent_again_and_delivered_once(ws, gateway):
    fan = ws.population.openids()[0]
    ws.faults.add(endpoint=TEMPLATE, latency_ms=800, count=1)
    msgid = gateway.send_template(fan, "TPL", {"first": {"value": "Hi"}},
                                  client_msg_id="req-1:fan")
    assert msgid
    assert ws.api_calls[TEMPLATE] == 2
    assert len([m for m in ws.sent_messages if m.kind == "template"]) == 1


def test_a_template_message_without_its_key_is_not_sent_again(ws, gateway):
    fan = ws.population.openids()[0]
    ws.faults.add(endpoint=TEMPLATE, latency_ms=800, count=1)
    with pytest.raises(RetriableError):
        gateway.send_template(fan, "TPL", {"first": {"value": "Hi"}})
    assert ws.api_calls[TEMPLATE] == 1

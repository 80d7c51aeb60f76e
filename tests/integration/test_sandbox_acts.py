"""A simulator outside the process makes people act through the WeChat sandbox: the
sandbox knows the act (population, windows) and delivers the push to the bridge."""

from __future__ import annotations

import os
import ssl

import httpx


def post_act(bridge, **act) -> httpx.Response:
    trust = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
    return httpx.post(f"{bridge.box.wechat_url}/__sandbox__/wechat/acts", json=act,
                      verify=trust, timeout=10)


def test_acts_reach_the_bridge_and_the_sandbox_knows_them(bridge):
    sf = bridge.box.salesforce
    campaign = sf.seed("Campaign", Name="Poster", IsActive=True,
                       WeChat_Auto_Reply__c="Hello from the poster")
    bridge.box.wechat.callback = bridge.sender
    stranger = bridge.box.population.openids(subscribed=False)[0]

    answer = post_act(bridge, act="follow", openid=stranger, scene=f"sfc_{campaign}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["delivered"] is True and "qrscene_sfc_" in body["xml"]
    assert bridge.box.population.lookup(stranger).subscribe  # the sandbox knows
    bridge.work()
    assert bridge.count("CampaignMember", CampaignId=campaign) == 1
    # the follow opened the 1-minute window in the sandbox, and the worker used one of its
    # 3 messages: the reply was not cached yet, so it went as a customer-service message
    windows = bridge.box.wechat.outbox.windows
    assert windows.left(stranger, bridge.box.wechat.clock())["event"] == 2
    [sent] = bridge.box.wechat.sent_messages
    assert (sent.to, sent.content) == ((stranger,), "Hello from the poster")

    text = post_act(bridge, act="text", openid=stranger, content="价格?").json()
    assert text["delivered"] and "<MsgType><![CDATA[text]]></MsgType>" in text["xml"]

    refused = post_act(bridge, act="scan", openid="oNobodyKnowsThisOpenId0000001",
                       scene=f"sfc_{campaign}")
    assert refused.status_code == 400 and "40003" in refused.text
    # ... and says how to get an OpenID the sandbox knows
    assert 'a follow without "openid" makes a new person' in refused.json()["detail"]
    assert post_act(bridge, act="click", openid=stranger).status_code == 400  # no key


def test_a_push_nobody_answered_says_why_and_where(bridge):
    """The sandbox delivers to a port where no bridge listens: the answer says so, rather
    than a bare "delivered": false."""
    import socket

    from sandbox.wechat.sender import CallbackSender

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = bridge.box.env
    closed = f"http://127.0.0.1:{port}/wechat/callback"
    bridge.box.wechat.callback = CallbackSender(
        closed, token=env["WECHAT_TOKEN"], app_id=env["WECHAT_APP_ID"],
        original_id=env["WECHAT_ORIGINAL_ID"], encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"],
        mode="safe", timeout=2.0)
    try:
        body = post_act(bridge, act="follow").json()
    finally:
        bridge.box.wechat.callback.close()
    assert body["delivered"] is False and body["status"] is None
    assert closed in body["problem"] and "is the bridge running there" in body["problem"]
    assert body["attempts"] == 4  # WeChat's push and its three resends

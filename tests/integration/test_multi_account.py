"""Two Official Accounts in one deployment: pushes of each, signed and encrypted with its
own token and key, are routed to it; its `accounts:` sections apply to its followers only;
its followers' profiles are read from its own API; a push no account signed is refused."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from connector.settings import DEFAULT_MAPPING
from sandbox.run import RunningSandbox
from sandbox.wechat import CallbackSender


def _mapping(box: RunningSandbox) -> str:
    store_b = box.more_wechat[0].original_id
    return DEFAULT_MAPPING.read_text(encoding="utf-8") + f"""
accounts:
  {store_b}:
    objects:
      Lead:
        LastName:   {{ source: follower.remark, default: "WeChat Follower" }}
        Company:    {{ value: "WeChat" }}
        LeadSource: {{ value: "WeChat Store B" }}
"""


@pytest.fixture
def two_accounts(make_bridge):
    running = make_bridge(accounts=2, mapping=_mapping)
    entry = json.loads(running.box.env["WECHAT_ACCOUNTS"])[0]
    with CallbackSender(running.sender.url, token=entry["token"], app_id=entry["app_id"],
                        original_id=entry["original_id"],
                        encoding_aes_key=entry["encoding_aes_key"], mode="safe",
                        timeout=5.0) as sender_b:
        yield running, sender_b


def test_each_account_s_pushes_land_with_its_own_mapping_and_profiles(two_accounts):
    bridge, sender_b = two_accounts
    sf, wx_a, wx_b = bridge.box.salesforce, bridge.box.wechat, bridge.box.more_wechat[0]
    campaign = sf.seed("Campaign", Name="Spring poster", IsActive=True)
    people_a = wx_a.population.openids(subscribed=True)[:3]
    people_b = wx_b.population.openids(subscribed=True)[:3]
    wx_a.reset_api_calls()
    wx_b.reset_api_calls()

    for openid in people_a:
        assert bridge.sender.deliver(wx_a.scan(openid, f"sfc_{campaign}")).acknowledged
    for openid in people_b:
        assert sender_b.deliver(wx_b.scan(openid, f"sfc_{campaign}")).acknowledged
    bridge.work()

    followers = {r["OpenId__c"]: r for r in sf.records("WeChat_Follower__c")}
    assert set(followers) == set(people_a) | set(people_b)
    for wx, people in ((wx_a, people_a), (wx_b, people_b)):
        assert wx.api_calls["/cgi-bin/user/info/batchget"] >= 1  # each from its own API
        for openid in people:
            assert followers[openid]["Account_Id__c"] == wx.original_id
            # subscribe_time is in the profile only: read from this account's emulator
            assert followers[openid]["Subscribed_At__c"] is not None
    sources = {r["WeChat_OpenId__c"]: r["LeadSource"] for r in sf.records("Lead")}
    assert {sources[o] for o in people_a} == {"WeChat"}
    assert {sources[o] for o in people_b} == {"WeChat Store B"}  # gh_b's objects: only
    assert bridge.count("CampaignMember", CampaignId=campaign) == 6


def test_a_push_no_account_signed_is_refused(two_accounts):
    bridge, _ = two_accounts
    wx, env = bridge.box.wechat, bridge.box.env
    entry_b = json.loads(env["WECHAT_ACCOUNTS"])[0]
    openid = wx.population.openids(subscribed=True)[0]
    # An unknown token (with A's key); then B's token, app id and key on a push whose
    # ToUserName is A's: B's account verifies and decrypts it, but it is not for B.
    strangers = [("notOurToken123", wx.app_id, env["WECHAT_ENCODING_AES_KEY"]),
                 (entry_b["token"], entry_b["app_id"], entry_b["encoding_aes_key"])]
    for token, app_id, key in strangers:
        with CallbackSender(bridge.sender.url, token=token, app_id=app_id,
                            original_id=wx.original_id, encoding_aes_key=key, mode="safe",
                            timeout=5.0, resends=0) as stranger:
            assert stranger.deliver(wx.scan(openid, "sfc_x")).status == 403
    assert bridge.sender.deliver(wx.scan(openid, "sfc_x")).acknowledged  # A's own: fine


def test_url_verification_accepts_any_account_s_token(two_accounts):
    bridge, _ = two_accounts
    token_b = json.loads(bridge.box.env["WECHAT_ACCOUNTS"])[0]["token"]
    for token, status in ((bridge.box.env["WECHAT_TOKEN"], 200), (token_b, 200),
                          ("notOurToken123", 403)):
        query = {"timestamp": "1700000000", "nonce": "n0nce", "echostr": "hello"}
        parts = sorted([token, query["timestamp"], query["nonce"]])
        query["signature"] = hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324
        answer = httpx.get(bridge.sender.url, params=query, timeout=5.0)
        assert answer.status_code == status
        assert (answer.text == "hello") is (status == 200)

"""Keyword replies end to end: WeChat_Keyword_Reply__c records in the Salesforce sandbox,
read into Redis by the clock's tick and by the change job of an edit, answered passively
by the web app's callback (safe mode: the sandbox's sender decrypts and verifies each
reply with the account's key), per account, without an API call."""

from __future__ import annotations

import json

import pytest
from rq import SimpleWorker

from connector.cli import main
from connector.settings import DEFAULT_MAPPING, get_settings
from jobs.poll import poll_changes
from jobs.queues import changes_queue, enqueue_changes
from sandbox.wechat import CallbackSender

OBJECT = "WeChat_Keyword_Reply__c"


def rule(sf, match, keyword=None, order=None, **fields) -> str:
    return sf.seed(OBJECT, Match__c=match, Keyword__c=keyword, Order__c=order,
                   Active__c=True, **fields)


def run_changes(bridge) -> None:
    SimpleWorker([changes_queue(bridge.redis)], connection=bridge.redis).work(
        burst=True, logging_level="WARNING")


@pytest.fixture
def fresh_settings():
    """The CLI reads the process's settings: this test's sandboxes, not an earlier one's."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def two_accounts_mapping(box) -> str:
    return DEFAULT_MAPPING.read_text(encoding="utf-8")


@pytest.fixture
def two_accounts(make_bridge):
    running = make_bridge(accounts=2, mapping=two_accounts_mapping)
    entry = json.loads(running.box.env["WECHAT_ACCOUNTS"])[0]
    with CallbackSender(running.sender.url, token=entry["token"], app_id=entry["app_id"],
                        original_id=entry["original_id"],
                        encoding_aes_key=entry["encoding_aes_key"], mode="safe",
                        timeout=5.0) as sender_b:
        yield running, sender_b


def test_a_keyword_answers_passively_and_other_texts_get_the_default(two_accounts, capsys,
                                                                     fresh_settings):
    bridge, sender_b = two_accounts
    sf, wx, wx_b = bridge.box.salesforce, bridge.box.wechat, bridge.box.more_wechat[0]
    rule(sf, "contains", "price", 20, Reply_Text__c="Prices: see our shop")
    rule(sf, "exact", "价格", 10, Reply_Text__c="价格表")
    rule(sf, "pattern", r"^order\s*#?\d{4,}$", 30, Reply_Text__c="We are checking the order")
    rule(sf, "contains", "price", 5, Account_Id__c=wx_b.original_id,
         Article_Title__c="Store B prices", Article_Url__c="https://example.com/b")
    rule(sf, "default", Reply_Text__c="Message received: we answer within a day.")
    poll_changes()  # the clock's tick: nothing cached yet, so every rule is read
    follower = bridge.box.population.openids()[0]
    sf_calls, wx_calls = sf.api_calls["total"], sum(wx.api_calls.values())

    for text, expected in (("What is the PRICE?", "Prices: see our shop"),
                           (" 价格 ", "价格表"), ("order #12345", "We are checking the order"),
                           ("hello", "Message received: we answer within a day.")):
        delivery = bridge.sender.deliver(wx.text(follower, text))
        assert delivery.acknowledged and delivery.body.startswith("<xml>\n<Encrypt>")
        reply = delivery.passive  # decrypted, signature checked with the account's key
        assert (reply.msg_type, reply.content) == ("text", expected), text
        assert (reply.to_user, reply.from_user) == (follower, wx.original_id)
    # the second account: its own rule first, the shared default for the rest
    follower_b = bridge.box.more_wechat[0].population.openids()[0]
    priced = sender_b.deliver(wx_b.text(follower_b, "price?")).passive
    assert priced.msg_type == "news" and priced.articles[0]["title"] == "Store B prices"
    assert priced.from_user == wx_b.original_id
    assert sender_b.deliver(wx_b.text(follower_b, "hi")).passive.content.startswith(
        "Message received")
    assert (sf.api_calls["total"], sum(wx.api_calls.values())) == (sf_calls, wx_calls)

    assert main(["replies", "show", "--text", "the price"]) == 0
    shown = capsys.readouterr().out
    assert "rule KR-0001 (order 20, contains 'price', every account)" in shown
    assert "Prices: see our shop" in shown


def test_an_edited_rule_answers_after_its_change_job(bridge):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    hours = rule(sf, "exact", "hours", 1, Reply_Text__c="9 to 5")
    poll_changes()
    follower = bridge.box.population.openids()[1]
    assert bridge.sender.deliver(wx.text(follower, "hours")).passive.content == "9 to 5"

    sf.edit(OBJECT, hours, {"Reply_Text__c": "9 to 6 from Monday"})
    enqueue_changes(bridge.redis, OBJECT, [hours], origin="om", key="n1")  # its Outbound Message
    run_changes(bridge)
    assert bridge.sender.deliver(wx.text(follower, "hours")).passive.content == (
        "9 to 6 from Monday")

    sf.delete(OBJECT, hours)
    enqueue_changes(bridge.redis, OBJECT, [hours], origin="om", key="n2")
    run_changes(bridge)
    gone = bridge.sender.deliver(wx.text(follower, "hours"))
    assert gone.acknowledged and gone.body == "success"  # no rule, no default: no answer


def test_a_follow_naming_no_campaign_gets_the_welcome_record_and_scans_are_unchanged(
        bridge, fresh_settings):
    sf, wx = bridge.box.salesforce, bridge.box.wechat
    rule(sf, "welcome", Reply_Text__c="Welcome! Type 'price' for our prices.")
    spring = sf.seed("Campaign", Name="Spring", IsActive=True,
                     WeChat_Auto_Reply__c="Thanks for scanning the spring poster")
    assert main(["replies", "refresh"]) == 0
    stranger = bridge.box.population.new_follower().openid
    welcome = bridge.sender.deliver(wx.follow(stranger)).passive
    assert welcome.content == "Welcome! Type 'price' for our prices."

    newcomer = bridge.box.population.new_follower().openid
    through_campaign = bridge.sender.deliver(wx.follow(newcomer, scene=f"sfc_{spring}"))
    assert through_campaign.passive.content == "Thanks for scanning the spring poster"

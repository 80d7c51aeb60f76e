"""The worker with several accounts: each follower's profile is read through the gateway
of its event's account, and an event of an account not configured is kept, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.context import WorkerContext
from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.batch import plan_all, profiles_for
from connector.wechat import UnknownAccount, WeChatAccounts
from mappings.loader import load_mapping

MAPPING = load_mapping(Path(__file__).resolve().parents[2] / "mappings" / "default.yaml")
A, B, STRANGER = "gh_00000000000a", "gh_00000000000b", "gh_00000000000c"


class FakeGateway:
    """Records the openids asked for; knows every openid."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.forgotten: list[str] = []

    def get_profiles(self, openids):
        self.asked += openids
        return {o: Follower(openid=o, subscribed=True, language="zh_CN") for o in openids}

    def forget(self, *openids):
        self.forgotten += openids


def scan(account: str, openid: str) -> InboundEvent:
    return InboundEvent.from_fields({"ToUserName": account, "FromUserName": openid,
                                     "CreateTime": "1700000000", "MsgType": "event",
                                     "Event": "subscribe"})


def context(gateways: dict) -> WorkerContext:
    return WorkerContext(settings=None, redis=None, mapping=MAPPING, salesforce=None,
                         wechat=WeChatAccounts(gateways), queues=None)


def test_profiles_are_read_through_each_event_s_account_and_strangers_are_kept():
    gw_a, gw_b = FakeGateway(), FakeGateway()
    ctx = context({A: gw_a, B: gw_b})
    events = {e.dedupe_key: e for e in (scan(A, "oA1"), scan(B, "oB1"), scan(B, "oB2"),
                                        scan(STRANGER, "oC1"))}
    profiles = profiles_for(ctx, list(events.values()))
    assert (gw_a.asked, sorted(gw_b.asked)) == (["oA1"], ["oB1", "oB2"])
    assert (gw_a.forgotten, sorted(gw_b.forgotten)) == (["oA1"], ["oB1", "oB2"])
    assert set(profiles) == {"oA1", "oB1", "oB2"}
    plans, kept = plan_all(ctx, events, profiles)
    assert {plan.key for plan in plans} == {k for k, e in events.items() if e.account != STRANGER}
    (why,) = kept.values()
    assert "'gh_00000000000c' is not configured" in why and "WECHAT_ACCOUNTS" in why


def test_a_lone_account_takes_every_event_as_before():
    gateway = FakeGateway()
    ctx = context({A: gateway})
    assert ctx.wechat.for_account(STRANGER) is gateway
    profiles_for(ctx, [scan(STRANGER, "oX")])
    assert gateway.asked == ["oX"]
    ctx.wechat.forget("oY")
    assert ctx.wechat.get_profiles(["oZ"])["oZ"].openid == "oZ"
    assert gateway.forgotten == ["oX", "oY"]


def test_an_unknown_account_s_gateway_is_an_error_naming_the_fix():
    with pytest.raises(UnknownAccount, match="add it to WECHAT_ACCOUNTS"):
        context({A: FakeGateway(), B: FakeGateway()}).wechat.for_account(STRANGER)

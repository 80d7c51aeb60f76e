"""WeChatGateway against recorded WeChat answers (cassettes/wechat/, replay only).

The cassettes hold WeChat's real response bodies (wechatpy's fixtures, reference V9) and
``SCRUBBED`` for every token and secret; each test pre-seeds the shared token cache with
that literal, so the gateway's requests match the recorded ones.
"""

from __future__ import annotations

import pytest

from connector.errors import RateLimitedError, RetriableError, SkippableError
from connector.follower import Follower
from connector.settings import load_settings
from connector.wechat import WeChatGateway

APP_ID = "wx2c2769f8efd9abc2"
TOKEN_KEY = f"wechat:token:{APP_ID}"


@pytest.fixture
def gateway(redis_conn) -> WeChatGateway:
    settings = load_settings(
        WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET="SCRUBBED", WECHAT_TOKEN="spamtest",
        WECHAT_API_BASE_URL="https://api.weixin.qq.com/", WECHAT_TIMEOUT=5,
        SALESFORCE_CLIENT_ID="x", SALESFORCE_CLIENT_SECRET="x",
    )
    return WeChatGateway(settings, redis_conn)


@pytest.fixture
def seeded(gateway, redis_conn) -> WeChatGateway:
    redis_conn.set(TOKEN_KEY, "SCRUBBED", ex=600)
    return gateway


def test_user_info(seeded, cassette_vcr):
    with cassette_vcr.use_cassette("wechat/user_info.yaml") as cassette:
        follower = seeded.get_profile("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
        again = seeded.get_profile("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")  # from Redis
    assert cassette.all_played and cassette.play_count == 1
    assert follower == again == Follower(
        openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M", subscribed=True,
        unionid="o6_bmasdasdsad6_2sgVt7hMZOPfL", subscribe_time=1382694957, language="zh_CN",
    )
    assert seeded.api_calls == 1


def test_user_info_batchget(seeded, cassette_vcr):
    openids = ["otvxTs4dckWG7imySrJd6jSi0CWE", "otvxTs_JZ6SEiP0imdhpi50fuSZg"]
    with cassette_vcr.use_cassette("wechat/user_info_batchget.yaml") as cassette:
        followers = seeded.get_profiles(openids)
        seeded.get_profiles(reversed(openids))  # all cached: no second call
    assert cassette.all_played and cassette.play_count == 1
    assert list(followers) == openids
    first, gone = followers.values()
    assert (first.subscribed, first.unionid, first.subscribe_time, first.remark) == (
        True, "oR5GjjgEhCMJFyzaVZdrxZ2zRRF4", 1434093047, "")
    assert (gone.subscribed, gone.unionid, gone.subscribe_time) == (
        False, "oR5GjjjrbqBZbrnPwwmSxFukE41U", None)


def test_forget_drops_the_cached_profile(seeded, cassette_vcr, redis_conn):
    with cassette_vcr.use_cassette("wechat/user_info.yaml"):
        seeded.get_profile("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    seeded.forget("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    with cassette_vcr.use_cassette("wechat/user_info.yaml") as cassette:
        seeded.get_profile("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    assert cassette.play_count == 1


def test_stable_token_is_fetched_once_and_shared(gateway, cassette_vcr, redis_conn):
    with cassette_vcr.use_cassette("wechat/stable_token.yaml") as cassette:
        assert gateway.access_token() == "SCRUBBED"
        assert gateway.access_token() == "SCRUBBED"
    assert cassette.all_played and cassette.play_count == 1
    # cached a few minutes short of WeChat's 7200 s
    assert 6000 < redis_conn.ttl(TOKEN_KEY) <= 6900


def test_rejected_token_is_refreshed_and_the_call_retried_once(seeded, cassette_vcr):
    with cassette_vcr.use_cassette("wechat/token_rejected.yaml") as cassette:
        follower = seeded.get_profile("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    assert cassette.all_played  # user/info, stable_token, forced stable_token, user/info
    assert follower.subscribed
    assert seeded.api_calls == 4


def test_tag_names(seeded, cassette_vcr):
    with cassette_vcr.use_cassette("wechat/tags_get.yaml") as cassette:
        names = seeded.tag_names()
        assert seeded.tag_names() == names  # from Redis
    assert cassette.play_count == 1
    assert names == {1: "每天一罐可乐星人", 2: "星标组", 127: "广东"}


def test_an_invalid_openid_does_not_cost_the_batch(seeded, cassette_vcr):
    with cassette_vcr.use_cassette("wechat/batchget_invalid_openid.yaml") as cassette:
        followers = seeded.get_profiles(["otvxTs4dckWG7imySrJd6jSi0CWE", "not-an-openid"])
    assert cassette.all_played
    assert list(followers) == ["otvxTs4dckWG7imySrJd6jSi0CWE"]


@pytest.mark.parametrize(
    ("openid", "kind", "status", "code", "request_id"),
    [
        ("o-invalid", SkippableError, 200, "40003", "65a4c0b4-3a1f2e4d-5c6b7a89"),
        ("o-quota", RateLimitedError, 200, "45009", "65a4c0b5-3a1f2e4d-5c6b7a89"),
        ("o-bad-gateway", RetriableError, 502, "HTTP_502", None),
        ("o-html", RetriableError, 200, "MALFORMED", None),
    ],
)
def test_failures_become_bridge_errors(seeded, cassette_vcr, openid, kind, status, code,
                                       request_id):
    # a 502 on a read is tried again within the call (connector/wechat/retrying.py): the
    # recording answers every attempt the same
    with cassette_vcr.use_cassette("wechat/failures.yaml", allow_playback_repeats=True), \
            pytest.raises(kind) as info:
        seeded.get_profile(openid)
    err = info.value
    assert type(err) is kind
    assert (err.system, err.status, err.code, err.request_id) == (
        "wechat", status, code, request_id)
    assert "SCRUBBED" not in str(err)

"""WeChatGateway against the WeChat sandbox over HTTPS, with a real Redis.

Each gateway stands for one worker process: its own HTTP session, the same Redis.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connector.errors import (
    ConfigurationError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)
from connector.in_call import Pacing
from connector.settings import load_settings
from connector.wechat import WeChatGateway
from sandbox.wechat import Population
from tests.wechat_served import served_wechat

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "0123456789abcdef0123456789abcdef"
TOKEN_KEY = f"wechat:token:{APP_ID}"
STABLE = "/cgi-bin/stable_token"
BATCHGET = "/cgi-bin/user/info/batchget"
USER_INFO = "/cgi-bin/user/info"


@pytest.fixture
def sandbox(sandbox_tls, monkeypatch):
    with served_wechat(sandbox_tls, monkeypatch, app_id=APP_ID, app_secret=APP_SECRET,
                       population=Population.generate(300, seed=7)) as ws:
        yield ws


@pytest.fixture
def make_gateway(sandbox, redis_conn):
    """A new gateway (a "process") on the sandbox: own session, shared Redis."""
    sessions: list[requests.Session] = []

    def make(*, secret: str = APP_SECRET, timeout: float = 5.0) -> WeChatGateway:
        settings = load_settings(
            WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=secret, WECHAT_TOKEN="spamtest",
            WECHAT_API_BASE_URL=sandbox.url, WECHAT_TIMEOUT=timeout,
            SALESFORCE_CLIENT_ID="x", SALESFORCE_CLIENT_SECRET="x",
        )
        session = requests.Session()
        sessions.append(session)
        return WeChatGateway(settings, redis_conn, session=session)

    yield make
    for session in sessions:
        session.close()


def test_two_processes_share_one_token_and_one_fetch(sandbox, make_gateway, redis_conn):
    first, second = make_gateway(), make_gateway()
    assert first.access_token() == second.access_token()
    assert sandbox.api_calls[STABLE] == 1
    assert sandbox.api_calls["/cgi-bin/token"] == 0
    openids = sandbox.population.openids()[:2]
    first.get_profile(openids[0])
    second.get_profile(openids[1])
    assert sandbox.api_calls[STABLE] == 1
    assert redis_conn.ttl(TOKEN_KEY) > 6000


def test_single_flight_under_concurrent_threads(sandbox, make_gateway):
    # A slow token endpoint keeps the first fetch in flight while the others arrive.
    sandbox.faults.add(endpoint=f"POST {STABLE}", latency_ms=300)
    gateways = [make_gateway() for _ in range(8)]
    start = threading.Barrier(len(gateways))

    def token(gateway: WeChatGateway) -> str:
        start.wait()
        return gateway.access_token()

    with ThreadPoolExecutor(len(gateways)) as pool:
        tokens = set(pool.map(token, gateways))
    assert len(tokens) == 1
    assert sandbox.api_calls[STABLE] == 1


def test_a_token_the_server_expired_is_refreshed_once(sandbox, make_gateway, redis_conn):
    gateway = make_gateway()
    old = gateway.access_token()
    sandbox.tokens.expire_all()  # the next call with it answers 42001
    openid = sandbox.population.openids()[0]

    follower = gateway.get_profile(openid)

    assert follower.openid == openid and follower.subscribed
    assert sandbox.api_calls[USER_INFO] == 2  # rejected, then retried
    assert sandbox.api_calls[STABLE] == 2
    assert redis_conn.get(TOKEN_KEY).decode() not in ("", old)


def test_an_unknown_cached_token_is_replaced(sandbox, make_gateway, redis_conn):
    redis_conn.set(TOKEN_KEY, "stale-token-from-elsewhere", ex=600)  # answers 40001
    gateway = make_gateway()
    assert gateway.get_profile(sandbox.population.openids()[0]).subscribed
    assert sandbox.api_calls[STABLE] == 1
    assert redis_conn.get(TOKEN_KEY).decode() == sandbox.tokens.current()


def test_profiles_are_batched_by_100_and_cached(sandbox, make_gateway):
    gateway = make_gateway()
    openids = sandbox.population.openids(subscribed=None)[:250]

    followers = gateway.get_profiles(openids)

    assert list(followers) == openids
    assert sandbox.api_calls[BATCHGET] == 3
    record = sandbox.population.get(openids[0])
    assert followers[openids[0]].subscribed == bool(record.subscribe)
    assert followers[openids[0]].tag_ids == tuple(record.tagid_list)
    tagged = next(f for f in followers.values() if f.tag_ids)
    assert len(tagged.tag_names) == len(tagged.tag_ids)  # names from tags/get
    calls = sum(sandbox.api_calls.values())

    again = gateway.get_profiles(reversed(openids))
    assert again == followers
    assert make_gateway().get_profile(openids[100]) == followers[openids[100]]
    assert sum(sandbox.api_calls.values()) == calls  # all from Redis


def test_forget_refetches_a_changed_profile(sandbox, make_gateway):
    gateway = make_gateway()
    openid = sandbox.population.openids()[0]
    assert gateway.get_profile(openid).subscribed
    sandbox.unfollow(openid)
    assert gateway.get_profile(openid).subscribed  # cached
    gateway.forget(openid)
    assert not gateway.get_profile(openid).subscribed


def test_an_invalid_openid_is_skippable(sandbox, make_gateway):
    gateway = make_gateway()
    with pytest.raises(SkippableError) as info:
        gateway.get_profile("o_not_a_follower_of_this_app")
    assert (info.value.system, info.value.code) == ("wechat", "40003")
    assert info.value.request_id

    good = sandbox.population.openids()[:3]
    followers = gateway.get_profiles([good[0], "o_not_a_follower_of_this_app", *good[1:]])
    assert list(followers) == good


def test_daily_quota_is_rate_limited(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.access_token()
    sandbox.faults.add(endpoint=f"GET {USER_INFO}$", status=200, code="45009")
    with pytest.raises(RateLimitedError) as info:
        gateway.get_profile(sandbox.population.openids()[0])
    err = info.value
    assert (err.code, err.status) == ("45009", 200)
    assert 60 <= err.retry_after <= 86400
    assert err.request_id


def test_a_proxy_error_on_a_read_is_tried_again_within_the_call(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.access_token()
    sandbox.faults.add(endpoint=BATCHGET, status=503, count=1)
    assert len(gateway.get_profiles(sandbox.population.openids()[:5])) == 5
    assert sandbox.api_calls[BATCHGET] == 2


def test_a_proxy_error_is_retriable_after_the_bound(sandbox, make_gateway):
    gateway = make_gateway()
    gateway.access_token()
    sandbox.faults.add(endpoint=BATCHGET, status=503)
    with pytest.raises(RetriableError) as info:
        gateway.get_profiles(sandbox.population.openids()[:5])
    assert (info.value.status, info.value.code) == (503, "HTTP_503")
    assert sandbox.api_calls[BATCHGET] == Pacing().attempts


def test_a_timeout_on_a_read_is_tried_again_within_the_call(sandbox, make_gateway):
    gateway = make_gateway(timeout=0.1)
    gateway.access_token()
    sandbox.faults.add(endpoint=USER_INFO, latency_ms=800, count=1)
    assert gateway.get_profile(sandbox.population.openids()[0]).subscribed
    assert sandbox.api_calls[USER_INFO] == 2


def test_a_timeout_is_retriable_after_the_bound(sandbox, make_gateway):
    gateway = make_gateway(timeout=0.1)
    gateway.access_token()
    sandbox.faults.add(endpoint=USER_INFO, latency_ms=800)
    with pytest.raises(RetriableError) as info:
        gateway.get_profile(sandbox.population.openids()[0])
    assert info.value.code == "TIMEOUT"
    assert sandbox.api_calls[USER_INFO] == Pacing().attempts


def test_a_wrong_secret_is_a_configuration_error(make_gateway, redis_conn):
    with pytest.raises(ConfigurationError) as info:
        make_gateway(secret="not-the-secret").access_token()
    assert info.value.code == "40125"
    assert "WECHAT_APP_SECRET" in info.value.message
    assert not redis_conn.exists(TOKEN_KEY)

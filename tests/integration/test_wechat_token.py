"""TokenCache on a real Redis: single flight, compare-and-delete, bounded waits.

The fetch function stands in for WeChat here so the races can be staged exactly; the
gateway tests (test_wechat_gateway.py) run the same code against the WeChat sandbox.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connector.errors import ConfigurationError, RetriableError
from connector.settings import load_settings
from connector.wechat import WeChatGateway
from connector.wechat.token import TokenCache, cache_ttl


class Issuer:
    """A stand-in for stable_token: hands out tokens and records each fetch."""

    def __init__(self, tokens: list[str], gate: threading.Event | None = None) -> None:
        self.tokens = list(tokens)
        self.calls: list[bool] = []
        self.gate = gate

    def __call__(self, force_refresh: bool) -> tuple[str, int]:
        self.calls.append(force_refresh)
        if self.gate is not None:
            assert self.gate.wait(10)
        return self.tokens.pop(0), 7200


def cache(redis_conn, issuer, **kwargs) -> TokenCache:
    kwargs.setdefault("lock_seconds", 5)
    kwargs.setdefault("wait_seconds", 5)
    return TokenCache(redis_conn, "wxapp", issuer, poll_seconds=0.01, **kwargs)


def test_a_miss_fetches_once_and_every_process_shares_the_token(redis_conn):
    issuer = Issuer(["T1"])
    first, second = cache(redis_conn, issuer), cache(redis_conn, issuer)
    assert first.get() == second.get() == first.get() == "T1"
    assert issuer.calls == [False]
    assert redis_conn.ttl("wechat:token:wxapp") == pytest.approx(6900, abs=5)


def test_single_flight_under_concurrent_misses(redis_conn):
    gate = threading.Event()
    issuer = Issuer(["T1", "T2"], gate)
    caches = [cache(redis_conn, issuer) for _ in range(8)]
    start = threading.Barrier(len(caches) + 1)

    def get(tokens: TokenCache) -> str:
        start.wait()
        return tokens.get()

    with ThreadPoolExecutor(len(caches)) as pool:
        futures = [pool.submit(get, c) for c in caches]
        start.wait()
        # The first fetch is held until its lock is visible, so the others meet it.
        for _ in range(500):
            if redis_conn.exists("wechat:token:wxapp:lock"):
                break
            threading.Event().wait(0.01)
        gate.set()
        results = {f.result() for f in futures}
    assert results == {"T1"}
    assert issuer.calls == [False]
    assert not redis_conn.exists("wechat:token:wxapp:lock")


def test_replace_keeps_a_newer_token_another_process_stored(redis_conn):
    issuer = Issuer(["T3"])
    tokens = cache(redis_conn, issuer)
    redis_conn.set("wechat:token:wxapp", "T2")  # someone already replaced T1
    assert tokens.replace("T1") == "T2"
    assert issuer.calls == []


def test_replace_drops_the_rejected_token_and_fetches_without_force(redis_conn):
    issuer = Issuer(["T2"])
    tokens = cache(redis_conn, issuer)
    redis_conn.set("wechat:token:wxapp", "T1")
    assert tokens.replace("T1") == "T2"
    assert issuer.calls == [False]
    assert tokens.get() == "T2"


def test_force_refresh_only_when_wechat_returns_the_rejected_token(redis_conn):
    issuer = Issuer(["T1", "T2"])
    tokens = cache(redis_conn, issuer)
    redis_conn.set("wechat:token:wxapp", "T1")
    assert tokens.replace("T1") == "T2"
    assert issuer.calls == [False, True]


def test_a_waiter_gives_up_after_its_bound(redis_conn):
    redis_conn.set("wechat:token:wxapp:lock", "someone-else", px=5000)
    issuer = Issuer(["T1"])
    with pytest.raises(RetriableError) as info:
        cache(redis_conn, issuer, wait_seconds=0.1).get()
    assert info.value.code == "TOKEN_WAIT"
    assert issuer.calls == []


def test_a_failed_fetch_releases_the_lock(redis_conn):
    def broken(force_refresh: bool) -> tuple[str, int]:
        raise ConfigurationError("bad secret", system="wechat", code="40125")

    with pytest.raises(ConfigurationError):
        cache(redis_conn, broken).get()
    assert not redis_conn.exists("wechat:token:wxapp:lock")
    assert cache(redis_conn, Issuer(["T1"])).get() == "T1"


@pytest.mark.parametrize(("expires_in", "ttl"), [(7200, 6900), (1000, 700), (600, 300),
                                                 (400, 200), (1, 1)])
def test_cache_ttl(expires_in, ttl):
    assert cache_ttl(expires_in) == ttl


def test_a_redis_outage_is_retriable_not_a_redis_exception():
    settings = load_settings(
        WECHAT_APP_ID="wx2c2769f8efd9abc2", WECHAT_APP_SECRET="s", WECHAT_TOKEN="spamtest",
        SALESFORCE_CLIENT_ID="x", SALESFORCE_CLIENT_SECRET="x",
    )
    # nothing listens there; no client-side retries, so the failure is immediate
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1,
                       retry=Retry(NoBackoff(), 0))
    gateway = WeChatGateway(settings, gone)
    for verb in (gateway.access_token, lambda: gateway.get_profiles(["o1"])):
        with pytest.raises(RetriableError) as info:
            verb()
        assert info.value.system == "redis"
    assert gateway.api_calls == 0

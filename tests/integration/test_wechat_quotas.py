"""WeChat's daily call quota per API: the emulator's (45009 past each limit,
openapi/quota/get, clear_quota) and the bridge's count of its own calls, over HTTPS with
a real Redis."""

from __future__ import annotations

import json

import pytest
import requests

from connector import wechat_quotas
from connector.errors import FatalError, RateLimitedError
from connector.settings import load_settings
from connector.wechat import WeChatGateway
from sandbox.wechat import Population, WeChatSandbox
from tests.clocks import Clock
from tests.wechat_served import served_wechat

APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "0123456789abcdef0123456789abcdef"
USER_GET = "/cgi-bin/user/get"
QUOTA_GET = "/cgi-bin/openapi/quota/get"
# 2025-06-15 23:30 in Beijing (15:30 UTC): half an hour before WeChat's day ends
BEFORE_MIDNIGHT = 1_750_001_400.0



@pytest.fixture
def clock():
    return Clock(BEFORE_MIDNIGHT)


@pytest.fixture
def sandbox(sandbox_tls, monkeypatch, clock):
    with served_wechat(sandbox_tls, monkeypatch, app_id=APP_ID, app_secret=APP_SECRET,
                       clock=clock, population=Population.generate(30, seed=3)) as ws:
        yield ws


@pytest.fixture
def api(sandbox):
    """POST/GET a cgi path with a fresh stable token; the JSON answer."""
    session = requests.Session()
    body = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    token = session.post(f"{sandbox.url}/cgi-bin/stable_token", json=body,
                         timeout=5).json()["access_token"]

    def call(path: str, body: dict | None = None) -> dict:
        url = f"{sandbox.url}{path}"
        if body is None:
            return session.get(url, params={"access_token": token}, timeout=5).json()
        return session.post(url, params={"access_token": token}, json=body,
                            timeout=5).json()

    yield call
    session.close()


@pytest.fixture
def gateway(sandbox, redis_conn, clock):
    settings = load_settings(
        WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET, WECHAT_TOKEN="spamtest",
        WECHAT_API_BASE_URL=sandbox.url, SALESFORCE_CLIENT_ID="x",
        SALESFORCE_CLIENT_SECRET="x")
    session = requests.Session()
    yield WeChatGateway(settings, redis_conn, session=session, clock=clock)
    session.close()


def control(sandbox, method: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/__sandbox__/wechat/quotas", json=body,
                            timeout=5)


# -- the emulator ------------------------------------------------------------------------

def test_the_emulator_refuses_past_an_apis_daily_limit_until_beijing_midnight(
        sandbox, api, clock):
    assert control(sandbox, "PUT", {"limits": {USER_GET: 2}}).json()["limits"][USER_GET] == 2
    assert api(USER_GET)["total"] > 0
    assert api(USER_GET)["total"] > 0
    refused = api(USER_GET)
    assert refused["errcode"] == 45009
    assert refused["errmsg"].startswith("reach max api daily quota limit rid: ")
    assert api("/cgi-bin/user/info?openid=" + sandbox.population.openids()[0])["subscribe"]
    assert api(QUOTA_GET, {"cgi_path": USER_GET}) == {
        "errcode": 0, "errmsg": "ok", "quota": {"daily_limit": 2, "used": 2, "remain": 0}}
    clock.now += 1800  # midnight in Beijing: a new day
    assert api(USER_GET)["total"] > 0
    assert control(sandbox, "GET").json()["used"] == {USER_GET: 1}


def test_the_emulators_published_limits_and_quota_gets_own(sandbox, api):
    limits = control(sandbox, "GET").json()["limits"]
    assert (limits["/cgi-bin/token"], limits["/cgi-bin/user/get"],
            limits["/cgi-bin/message/custom/send"], limits[QUOTA_GET]) == (
                2000, 500, 500_000, 100)
    quota = api(QUOTA_GET, {"cgi_path": "/cgi-bin/message/custom/send"})["quota"]
    assert quota == {"daily_limit": 500_000, "used": 0, "remain": 500_000}
    assert api(QUOTA_GET, {"cgi_path": "/cgi-bin/no/such"})["errcode"] == 76021
    assert api(QUOTA_GET, {"cgi_path": "cgi-bin/user/get"})["errcode"] == 76003
    control(sandbox, "PUT", {"limits": {QUOTA_GET: 4}})  # quota/get spends its own quota
    assert api(QUOTA_GET, {"cgi_path": QUOTA_GET})["quota"]["used"] == 4
    assert api(QUOTA_GET, {"cgi_path": USER_GET})["errcode"] == 45009


def test_clear_quota_zeroes_the_day_ten_times_a_month(sandbox, api):
    control(sandbox, "PUT", {"limits": {USER_GET: 1}})
    api(USER_GET)
    assert api(USER_GET)["errcode"] == 45009
    assert api("/cgi-bin/clear_quota", {"appid": "wx0000000000000000"})["errcode"] == 40013
    assert api("/cgi-bin/clear_quota", {"appid": APP_ID}) == {"errcode": 0, "errmsg": "ok"}
    assert api(USER_GET)["total"] > 0
    for _ in range(9):
        assert api("/cgi-bin/clear_quota", {"appid": APP_ID})["errcode"] == 0
    refused = api("/cgi-bin/clear_quota", {"appid": APP_ID})
    assert refused["errcode"] == 48006
    assert refused["errmsg"].startswith("forbid to clear quota because of reaching the limit")
    assert control(sandbox, "GET").json()["clears_this_month"] == 10


# -- the bridge's count ------------------------------------------------------------------

def by_path(redis, now) -> dict[str, wechat_quotas.Quota]:
    return {q.path: q for q in wechat_quotas.read(redis, APP_ID, now)}


def test_the_gateway_counts_its_calls_per_api_and_sees_the_quota_spent(
        sandbox, gateway, redis_conn, clock):
    control(sandbox, "PUT", {"limits": {USER_GET: 2}})
    gateway.follower_page()
    gateway.follower_page()
    quotas = by_path(redis_conn, clock.now)
    assert quotas[USER_GET].used == 2 and quotas[USER_GET].limit == 500  # published
    assert quotas["/cgi-bin/stable_token"].used == 1
    assert not quotas[USER_GET].exhausted_at

    with pytest.raises(RateLimitedError) as refused:
        gateway.follower_page()
    assert refused.value.retry_after == 1800  # until midnight in Beijing
    spent = by_path(redis_conn, clock.now)[USER_GET]
    assert spent.used == 2 and spent.exhausted and spent.remaining == 0
    assert spent.exhausted_at == clock.now
    # the emulator and the bridge agree on the count
    assert control(sandbox, "GET").json()["used"][USER_GET] == 2

    clock.now += 1800  # a new day in Beijing: nothing counted, nothing spent
    fresh = by_path(redis_conn, clock.now)[USER_GET]
    assert (fresh.used, fresh.exhausted) == (0, False)


def test_asking_wechat_keeps_its_figures_and_spends_quota_gets_own_quota(
        sandbox, gateway, redis_conn, clock):
    control(sandbox, "PUT", {"limits": {USER_GET: 7}})
    gateway.follower_page()
    assert gateway.api_quota(USER_GET) == {"daily_limit": 7, "used": 1, "remain": 6}
    quota = by_path(redis_conn, clock.now)[USER_GET]
    assert (quota.limit, quota.used, quota.remaining) == (7, 1, 6)  # WeChat's limit now
    assert quota.checked["at"] == clock.now
    assert by_path(redis_conn, clock.now)[QUOTA_GET].used == 1
    with pytest.raises(FatalError):
        gateway.api_quota("/cgi-bin/no/such")  # 76021


def test_smaller_pages_get_a_larger_user_get_quota(clock):
    # the demo's 10-follower pages: a day still lists WeChat's 5,000,000 followers
    small = WeChatSandbox(app_id=APP_ID, app_secret=APP_SECRET, clock=clock,
                          population=Population.generate(3, seed=3), list_page=10)
    assert small.quotas.snapshot()["limits"][USER_GET] == 500_000


def test_connector_quotas_shows_the_count_and_refresh_asks_wechat(
        sandbox, redis_url, redis_conn, monkeypatch, capsys):
    from connector.cli.main import main
    from connector.settings.config import get_settings

    for key, value in {"WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                       "WECHAT_TOKEN": "spamtest", "WECHAT_API_BASE_URL": sandbox.url,
                       "SALESFORCE_CLIENT_ID": "x", "SALESFORCE_CLIENT_SECRET": "x",
                       "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    control(sandbox, "PUT", {"limits": {USER_GET: 2}})
    settings = get_settings()
    gateway = WeChatGateway(settings, redis_conn)
    gateway.follower_page()
    gateway.follower_page()
    with pytest.raises(RateLimitedError):
        gateway.follower_page()
    capsys.readouterr()

    assert main(["quotas"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.strip().startswith("user/get "))
    assert row.split()[1:4] == ["2", "500", "0"] and "EXHAUSTED (45009)" in row
    calls_before = sandbox.api_calls[QUOTA_GET]

    assert main(["quotas", "--refresh", "user/get"]) == 0
    out = capsys.readouterr()
    assert "one openapi/quota/get call each" in out.err
    assert sandbox.api_calls[QUOTA_GET] == calls_before + 1
    assert main(["quotas", "--json"]) == 0
    # no WECHAT_ORIGINAL_ID: the account is named by its app id
    rows = {r["api"]: r for r in json.loads(capsys.readouterr().out)[APP_ID]}
    assert rows["user/get"]["limit"] == 2 and rows["user/get"]["checked"]["remain"] == 0
    get_settings.cache_clear()

"""The bridge's count of its WeChat calls per API and Beijing day
(``connector/wechat_quotas.py``), on a real Redis."""

from __future__ import annotations

import pytest

from connector import wechat_quotas as wq

APP = "wx2c2769f8efd9abc2"
# 2025-06-15 23:59:59 in Beijing (15:59:59 UTC)
LAST_SECOND = 1_750_003_199.0


def spend(redis, path: str, n: int = 1, errcode: int | None = None,
          now: float = LAST_SECOND) -> None:
    with redis.pipeline(transaction=False) as pipe:
        for _ in range(n):
            wq.count(pipe, APP, path, errcode, now)
        pipe.execute()


def rows(redis, now: float = LAST_SECOND) -> dict[str, wq.Quota]:
    return {q.path: q for q in wq.read(redis, APP, now)}


def test_the_day_is_beijings():
    assert wq.beijing_day(LAST_SECOND) == "2025-06-15"
    assert wq.beijing_day(LAST_SECOND + 1) == "2025-06-16"
    assert wq.seconds_to_reset(LAST_SECOND) == 1
    assert wq.seconds_to_reset(LAST_SECOND + 1) == wq.DAY


@pytest.mark.parametrize(("url_path", "expected"), [
    ("/cgi-bin/user/info", "/cgi-bin/user/info"),
    ("/wechat-sandbox/cgi-bin/user/info/batchget/", "/cgi-bin/user/info/batchget"),
    ("/sns/oauth2/access_token", None),
])
def test_the_cgi_path_of_a_request(url_path, expected):
    assert wq.cgi_path(url_path) == expected


def test_calls_count_per_path_and_day_and_expire(redis_conn):
    spend(redis_conn, "/cgi-bin/user/get", 3)
    spend(redis_conn, "/cgi-bin/tags/get", 1)
    today = rows(redis_conn)
    assert (today["/cgi-bin/user/get"].used, today["/cgi-bin/user/get"].remaining) == (3, 497)
    unpublished = today["/cgi-bin/tags/get"]
    assert (unpublished.used, unpublished.limit, unpublished.remaining,
            unpublished.share) == (1, None, None, None)
    assert rows(redis_conn)["/cgi-bin/message/custom/send"].used == 0  # published, unused
    assert rows(redis_conn, LAST_SECOND + 1)["/cgi-bin/user/get"].used == 0  # a new day
    key = f"{wq.PREFIX}{APP}:2025-06-15"
    assert 0 < redis_conn.ttl(key) <= wq.KEEP_SECONDS


def test_a_45009_marks_the_api_spent_whatever_the_count(redis_conn):
    spend(redis_conn, "/cgi-bin/user/info", 5)
    spend(redis_conn, "/cgi-bin/user/info", errcode=45009)
    quota = rows(redis_conn)["/cgi-bin/user/info"]
    assert quota.used == 5  # the refusal is not a call spent
    assert quota.exhausted and quota.remaining == 0 and quota.share == 1.0
    assert quota.exhausted_at == LAST_SECOND
    assert wq.read(redis_conn, APP, LAST_SECOND)[0].path == "/cgi-bin/user/info"  # first


def test_a_count_at_the_limit_is_spent_too(redis_conn):
    spend(redis_conn, "/cgi-bin/media/uploadnews", 10)
    quota = rows(redis_conn)["/cgi-bin/media/uploadnews"]
    assert quota.exhausted and quota.exhausted_at is None and quota.remaining == 0


def test_wechats_own_figures_replace_the_published_limit(redis_conn):
    spend(redis_conn, "/cgi-bin/user/get", 2)
    wq.store_checked(redis_conn, APP, "/cgi-bin/user/get",
                     {"daily_limit": 1000, "used": 40, "remain": 960}, LAST_SECOND)
    quota = rows(redis_conn)["/cgi-bin/user/get"]
    # another client of the account spent more than the bridge: WeChat's count shows
    assert (quota.limit, quota.used, quota.remaining) == (1000, 40, 960)
    spend(redis_conn, "/cgi-bin/user/get", 50)
    assert rows(redis_conn)["/cgi-bin/user/get"].used == 90  # WeChat's + the bridge's since

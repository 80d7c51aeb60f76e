"""The mass-message quota per follower: periods in Beijing time, atomic reservations."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from connector.messaging import quotas
from connector.messaging.quotas import BEIJING


def at(*parts: int) -> float:
    """A Beijing wall-clock time as epoch seconds."""
    return datetime(*parts, tzinfo=BEIJING).timestamp()


@pytest.mark.parametrize(("kind", "moment", "period"), [
    # 2024-03-31 23:59:59 in Beijing is still March there (15:59:59 UTC).
    ("service", at(2024, 3, 31, 23, 59, 59), "2024-03"),
    ("service", at(2024, 4, 1, 0, 0, 0), "2024-04"),
    # 2024-03-31 20:00 UTC is already April 1st in Beijing.
    ("service", datetime.fromisoformat("2024-03-31T20:00:00+00:00").timestamp(), "2024-04"),
    ("service", at(2024, 12, 31, 23, 59, 59), "2024-12"),
    ("subscription", at(2024, 2, 29, 23, 59, 59), "2024-02-29"),
    ("subscription", datetime.fromisoformat("2024-02-29T16:00:00+00:00").timestamp(),
     "2024-03-01"),
])
def test_periods_are_beijing_months_and_days(kind, moment, period):
    assert quotas.period_of(kind, moment) == period


@pytest.mark.parametrize(("kind", "moment", "end"), [
    ("service", at(2024, 3, 15, 12), at(2024, 4, 1)),
    ("service", at(2024, 12, 31, 23, 59), at(2025, 1, 1)),
    ("subscription", at(2024, 3, 15, 12), at(2024, 3, 16)),
    ("subscription", at(2024, 3, 15, 0), at(2024, 3, 16)),
])
def test_period_end_is_the_next_beijing_midnight_of_the_period(kind, moment, end):
    assert quotas.period_end(kind, moment) == end


def test_unknown_account_type_is_refused():
    with pytest.raises(ValueError, match="service or subscription"):
        quotas.limit_of("enterprise")


def test_service_followers_get_four_a_month_then_the_next_month_again(redis_conn):
    march, april = at(2024, 3, 31, 23, 59), at(2024, 4, 1, 0, 1)
    for _ in range(4):
        assert quotas.reserve(redis_conn, "gh_a", "service", ["o1", "o2"], march).allowed == [
            "o1", "o2"]
    fifth = quotas.reserve(redis_conn, "gh_a", "service", ["o1", "o3", "o1"], march)
    assert (fifth.allowed, fifth.denied) == (["o3"], ["o1"])
    assert quotas.reserve(redis_conn, "gh_a", "service", ["o1"], april).allowed == ["o1"]
    assert quotas.used(redis_conn, "gh_a", "service", ["o1", "o9"], march) == {"o1": 4, "o9": 0}
    # another account's followers have their own counts
    assert quotas.reserve(redis_conn, "gh_b", "service", ["o1"], march).allowed == ["o1"]


def test_subscription_followers_get_one_a_day(redis_conn):
    day, next_day = at(2024, 3, 15, 23, 59), at(2024, 3, 16, 0, 0)
    assert quotas.reserve(redis_conn, "gh_a", "subscription", ["o1"], day).allowed == ["o1"]
    assert quotas.reserve(redis_conn, "gh_a", "subscription", ["o1"], day).denied == ["o1"]
    assert quotas.reserve(redis_conn, "gh_a", "subscription", ["o1"], next_day).allowed == ["o1"]


def test_release_gives_back_in_the_period_reserved(redis_conn):
    march = at(2024, 3, 20)
    reservation = quotas.reserve(redis_conn, "gh_a", "service", ["o1", "o2"], march)
    quotas.release(redis_conn, reservation, ["o1"])
    assert quotas.used(redis_conn, "gh_a", "service", ["o1", "o2"], march) == {"o1": 0, "o2": 1}
    quotas.release(redis_conn, reservation)
    quotas.release(redis_conn, reservation)  # never below zero
    assert quotas.used(redis_conn, "gh_a", "service", ["o1", "o2"], march) == {"o1": 0, "o2": 0}


def test_counts_are_kept_a_week_after_the_period(redis_conn):
    moment = at(2024, 3, 31, 12)
    quotas.reserve(redis_conn, "gh_a", "service", ["o1"], moment)
    ttl = redis_conn.ttl("bridge:quota:gh_a:2024-03")
    assert 12 * 3600 + quotas.KEEP_AFTER - 5 <= ttl <= 12 * 3600 + quotas.KEEP_AFTER


def test_concurrent_reservations_never_exceed_the_limit(redis_conn):
    moment = at(2024, 3, 20)

    def one(_):
        return quotas.reserve(redis_conn, "gh_a", "service", ["o1"], moment).allowed

    with ThreadPoolExecutor(max_workers=8) as pool:
        granted = sum(len(allowed) for allowed in pool.map(one, range(20)))
    assert granted == 4

"""The org's daily API limit: the pure decisions (connector/salesforce/limits.py), the
budget the processes share in Redis (connector/salesforce/budget.py), and the emulator's
rolling 24-hour window (sandbox/salesforce/usage.py)."""

from __future__ import annotations

import json

import pytest

from connector.errors import (
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
)
from connector.salesforce import ApiBudget, ApiUsage, Target, classify_response
from connector.salesforce.budget import HELD, PAUSED, USAGE
from connector.salesforce.limits import (
    allows,
    is_daily_limit,
    parse_limit_info,
    probe_frees,
    usage_from_limits,
)
from jobs.pausing import wait_seconds
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.usage import DAY_SECONDS
from sandbox.salesforce.usage import ApiUsage as SandboxUsage
from tests.clocks import Clock

DAILY = classify_response(403, [{"message": "TotalRequests Limit exceeded.",
                                 "errorCode": "REQUEST_LIMIT_EXCEEDED"}], Target("query"))


# -- pure ------------------------------------------------------------------------------------

def test_limit_info_is_a_typed_usage():
    usage = parse_limit_info("api-usage=12000/15000; per-app-api-usage=17/250(appName=x)")
    assert usage == ApiUsage(12000, 15000) and usage == (12000, 15000)
    assert (usage.share, usage.remaining, str(usage)) == (0.8, 3000, "12000/15000 (80%)")
    assert ApiUsage(110018, 100000).remaining == 0  # an org may overrun its allocation


def test_usage_from_the_limits_resource():
    payload = {"DailyApiRequests": {"Max": 15000, "Remaining": 14000},
               "DataStorageMB": {"Max": 5, "Remaining": 5}}
    assert usage_from_limits(payload) == ApiUsage(1000, 15000)
    with pytest.raises(FatalError, match="DailyApiRequests"):
        usage_from_limits({"DataStorageMB": {"Max": 5, "Remaining": 5}})


@pytest.mark.parametrize(("error", "daily"), [
    (DAILY, True),
    # the same code for too many long-running calls at once: seconds, not hours
    (classify_response(403, [{"message": "ConcurrentRequests (Concurrent API Requests) "
                              "Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                       Target("query")), False),
    (RateLimitedError("45009 reach max api daily quota limit", system="wechat",
                      code="45009"), False),
    (RetriableError("503", system="salesforce", code="SERVER_UNAVAILABLE"), False),
    (FatalError("x", system="salesforce", code="REQUEST_LIMIT_EXCEEDED"), False),
])
def test_what_pauses_the_queues(error, daily):
    assert is_daily_limit(error) is daily


@pytest.mark.parametrize(("kind", "usage", "allocation", "expected"), [
    ("inbound", ApiUsage(14999, 15000), 0.8, True),  # followers' events always go
    ("inbound", ApiUsage(15000, 15000), 0.8, True),
    ("poll", ApiUsage(11999, 15000), 0.8, True),
    ("poll", ApiUsage(12000, 15000), 0.8, False),  # at the allocation: held
    ("backfill", ApiUsage(9000, 10000), 0.95, True),
    ("backfill", ApiUsage(9600, 10000), 0.95, False),
    ("poll", None, 0.8, True),  # unknown usage: its own answers will tell
])
def test_allocation(kind, usage, allocation, expected):
    assert allows(kind, usage, allocation) is expected


def test_an_unknown_kind_of_work_is_a_mistake():
    with pytest.raises(ValueError, match="unknown kind"):
        allows("pol", ApiUsage(1, 10), 0.8)


@pytest.mark.parametrize(("usage", "error", "frees"), [
    (ApiUsage(14999, 15000), None, True),
    (ApiUsage(15000, 15000), None, False),
    (None, DAILY, False),
    (None, RetriableError("timeout", system="salesforce"), False),  # cannot tell
    # no permission to read the limits: the call got past the limit
    (None, ConfigurationError("INSUFFICIENT_ACCESS", system="salesforce"), True),
])
def test_what_ends_a_pause(usage, error, frees):
    assert probe_frees(usage, error) is frees


# -- the shared budget (real Redis) -------------------------------------------------------

def test_usage_writes_are_throttled_per_process(redis_conn):
    budget = ApiBudget(redis_conn)
    budget.observe(ApiUsage(10, 100))
    budget.observe(ApiUsage(11, 100))  # within WRITE_EVERY: no round trip
    assert json.loads(redis_conn.get(USAGE))["used"] == 10
    ApiBudget(redis_conn).observe(ApiUsage(12, 100))  # another process (work horse)
    assert budget.usage()[0] == ApiUsage(12, 100)
    budget.observe(ApiUsage(13, 100), force=True)
    assert budget.usage()[0] == ApiUsage(13, 100)


def test_background_work_is_held_above_the_allocation_and_says_why(redis_conn):
    budget = ApiBudget(redis_conn, allocation=0.8)
    budget.observe(ApiUsage(85, 100))
    assert budget.allows("inbound") is True
    assert budget.allows("poll") is False
    assert "85/100 (85%)" in budget.status()["held"]["poll"]
    budget.observe(ApiUsage(50, 100), force=True)  # the window rolled on
    assert budget.allows("poll") is True
    assert budget.status()["held"] == {}


def test_stale_usage_holds_nothing(redis_conn):
    redis_conn.set(USAGE, json.dumps({"used": 99, "limit": 100, "at": 1.0}))
    budget = ApiBudget(redis_conn)
    assert budget.usage() is None and budget.allows("poll") is True
    assert budget.status()["usage"]["used"] == 99  # still shown, with its time


def test_one_probe_per_interval_and_a_probe_ends_the_pause(redis_conn):
    budget = ApiBudget(redis_conn, probe_seconds=60)
    assert budget.paused() is None
    first = budget.pause("query: TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
    assert budget.claim_probe() is False  # the refused call was this interval's probe
    redis_conn.delete("bridge:salesforce:probe")  # the interval has passed
    assert budget.claim_probe() is True
    assert ApiBudget(redis_conn).claim_probe() is False  # every other process waits
    budget.probed(ApiUsage(15000, 15000), "usage 15000/15000")
    again = budget.pause("query: TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")
    assert again.since == first.since and again.probes == 1  # one pause, still
    status = budget.status()["paused"]
    assert status["why"].startswith("query: TotalRequests") and status["probes"] == 1
    assert status["next_probe"] == status["last_probe"] + 60
    budget.resume(ApiUsage(100, 15000))
    assert budget.paused() is None and not redis_conn.exists(PAUSED)
    assert budget.usage()[0] == ApiUsage(100, 15000)
    assert budget.claim_probe() is True  # a new pause's probe is free again


def test_held_records_expire(redis_conn):
    budget = ApiBudget(redis_conn)
    budget.observe(ApiUsage(99, 100))
    assert budget.allows("backfill") is False
    assert 0 < redis_conn.ttl(HELD + "backfill") <= 600


# -- the emulator's rolling window ----------------------------------------------------------


def test_calls_age_out_of_the_rolling_window():
    clock = Clock(1000.0)
    usage = SandboxUsage(3, clock=clock)
    for _ in range(2):
        usage.charge("query")
    clock.now += 3600
    usage.charge("create")
    with pytest.raises(SalesforceError) as refused:
        usage.charge("query")
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    assert usage.header() == "api-usage=3/3"
    clock.now += DAY_SECONDS - 3600  # the first two calls are a day old
    assert usage.header() == "api-usage=1/3"
    usage.charge("query")
    assert usage.snapshot() == {"total": 4, "query": 3, "create": 1}  # refusals uncounted
    assert usage.refused == 1


def test_another_app_can_spend_the_limit_for_a_while():
    clock = Clock(1000.0)
    usage = SandboxUsage(10, clock=clock)
    usage.charge("query")
    assert usage.spend(seconds=5) == 9
    with pytest.raises(SalesforceError):
        usage.charge("query")
    clock.now += 5
    assert usage.used == 1  # the other app's calls aged out; ours stays
    assert usage.spend(3, seconds=60) == 3 and usage.used == 4
    assert usage.snapshot() == {"total": 1, "query": 1}  # not the bridge's calls
    usage.pass_time(60)  # an operator's "an hour later" in a test
    assert usage.used == 1


@pytest.mark.parametrize(("probe_seconds", "deferred", "expected"), [
    (300, 0, 300), (300, 1, 600), (300, 3, 2400), (300, 4, 3600), (300, 40, 3600),
    (1, 0, 1), (1, 5, 32),
    (7200, 3, 7200),  # an interval above the cap is the cap
])
def test_a_waiting_job_sleeps_longer_at_each_deferral(probe_seconds, deferred, expected):
    assert wait_seconds(probe_seconds, deferred) == expected

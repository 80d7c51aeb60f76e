"""The clock runs as exactly one process: a Redis lock, refreshed on every beat of rq's
cron scheduler, keeps a second clock out."""

from __future__ import annotations

import pytest
from rq.exceptions import StopRequested

from connector.settings import load_settings
from jobs.clock import LOCK, ClockLock, build_scheduler, lock_seconds, run_clock
from jobs.queues import CHANGES


@pytest.fixture
def settings(monkeypatch):
    for key, value in {"SALESFORCE_CLIENT_ID": "clock", "SALESFORCE_CLIENT_SECRET": "clock",
                       "WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "clock",
                       "WECHAT_TOKEN": "clocktoken", "POLL_INTERVAL_SECONDS": "15"}.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_a_second_clock_is_refused_while_the_first_holds_the_lock(redis_conn, settings):
    first, second = ClockLock(redis_conn, 5), ClockLock(redis_conn, 5)
    assert first.acquire()
    assert not second.acquire()
    assert run_clock(settings, redis_conn, wait=False) == 1  # refuses instead of polling
    assert second.holder() == first.token
    assert first.refresh() and not second.refresh()
    first.release()
    assert second.acquire() and redis_conn.get(LOCK).decode() == second.token


def test_a_clock_that_lost_its_lock_stops(redis_conn, settings):
    lock = ClockLock(redis_conn, lock_seconds(settings))
    assert lock.acquire()
    scheduler = build_scheduler(redis_conn, settings, lock)
    [job] = scheduler.get_jobs()
    assert (job.func_name, job.queue_name, job.interval) == (
        "jobs.poll.poll_changes", CHANGES, 15)
    scheduler.heartbeat()  # holds the lock: beats
    assert redis_conn.pttl(LOCK) > 50_000
    redis_conn.set(LOCK, "another clock")  # its lock expired and another clock took it
    with pytest.raises(StopRequested):
        scheduler.heartbeat()


def test_a_clock_takes_its_lock_again_after_an_outage(redis_conn, settings):
    lock = ClockLock(redis_conn, lock_seconds(settings))
    # Redis kept the lock through the outage, and the clock starts over: it is its own
    redis_conn.set(LOCK, lock.token, ex=60)
    assert lock.acquire() and lock.refresh()
    redis_conn.delete(LOCK)  # a Redis restarted without its data lost it: free again
    assert lock.refresh()
    assert redis_conn.get(LOCK).decode() == lock.token
    redis_conn.set(LOCK, "another clock")  # taken over by another: not ours to take
    assert not lock.refresh() and not lock.acquire()

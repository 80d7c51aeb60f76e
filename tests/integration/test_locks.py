"""connector.locks on a real Redis: one holder at a time, released only by its holder."""

from __future__ import annotations

import time

from connector.locks import holding, lock, release, release_owned


def test_a_second_holder_is_told_the_lock_is_taken_until_the_first_leaves(redis_conn):
    with holding(redis_conn, "test:lock", ttl=5) as first:
        assert first
        with holding(redis_conn, "test:lock", ttl=5) as second:
            assert not second
        assert redis_conn.exists("test:lock")  # the second left it alone
    assert not redis_conn.exists("test:lock")
    with holding(redis_conn, "test:lock", ttl=5) as again:
        assert again


def test_a_holder_that_outlived_its_lease_does_not_release_the_next_holder(redis_conn, caplog):
    first = lock(redis_conn, "test:lease", ttl=0.05)
    assert first.acquire()
    time.sleep(0.1)  # the lease ran out: the lock is free, and another takes it
    second = lock(redis_conn, "test:lease", ttl=5)
    assert second.acquire()
    release(first)  # late: must not free the second holder's lock
    assert redis_conn.get("test:lease") is not None
    assert "outlived its lease" in caplog.text
    release(second)
    assert not redis_conn.exists("test:lease")


def test_waiting_for_a_lock_gets_it_when_the_holder_leaves(redis_conn):
    held = lock(redis_conn, "test:wait", ttl=0.2)
    assert held.acquire()
    waiter = lock(redis_conn, "test:wait", ttl=5, wait=2)
    started = time.monotonic()
    assert waiter.acquire()  # the holder's lease ends after 0.2 s
    assert time.monotonic() - started < 2
    release(waiter)


def test_release_owned_drops_only_the_keys_still_holding_the_owner(redis_conn):
    redis_conn.set("test:claim:a", "job-1")
    redis_conn.set("test:claim:b", "job-2")  # another owner's
    assert release_owned(redis_conn, "job-1", ["test:claim:a", "test:claim:b",
                                               "test:claim:missing"]) == 1
    assert not redis_conn.exists("test:claim:a")
    assert redis_conn.get("test:claim:b") == b"job-2"
    assert release_owned(redis_conn, "job-1", []) == 0

"""The clock: the one process that enqueues the change poll every
``POLL_INTERVAL_SECONDS`` (rq's cron scheduler; the poll itself runs on a worker).

Exactly one clock may run: two would poll twice as often for nothing. A clock holds the
Redis lock ``bridge:clock:lock`` (a token, with an expiry longer than the scheduler's
longest sleep) and refreshes it on every beat; a second clock waits until the lock is
free (a restarting dyno's successor takes over once the old one stops or its lock
expires), or, with ``wait=False``, refuses to start. A clock that finds its lock taken
by another stops.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from connector.locks import lock, release, release_owned
from connector.redis_connection import reconnect_delay
from connector.settings import Settings
from jobs.poll import poll_changes
from jobs.queues import CHANGES

log = logging.getLogger(__name__)

LOCK = "bridge:clock:lock"
WAIT_STEP = 5.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class ClockLock:
    """The lock that makes a clock the only one (:func:`connector.locks.lock`, with a
    token that names the clock's host and process). ``ttl`` seconds without a refresh
    and it is free again."""

    def __init__(self, redis: Redis, ttl: float) -> None:
        self._redis = redis
        self._lock = lock(redis, LOCK, ttl=ttl)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take the lock; False when another clock holds it. Still held under our own
        token (a Redis that kept its data through an outage) counts as taken."""
        if self._lock.acquire(token=self.token):
            return True
        # Ours already: drop it (only if still ours) and take it afresh, rather than wait
        # up to a whole lease for our own lock to expire.
        return bool(release_owned(self._redis, self.token, [LOCK])) and \
            self._lock.acquire(token=self.token)

    def refresh(self) -> bool:
        """Extend the lock, or take it again if it is free; False when another clock
        holds it (ours expired and it took over)."""
        try:
            return self._lock.reacquire()
        except LockError:  # no longer ours: gone, or another's
            return self.acquire()

    def release(self) -> None:
        release(self._lock)

    def holder(self) -> str | None:
        value = self._redis.get(LOCK)
        return value.decode() if value else None


class ClockScheduler(CronScheduler):
    """rq's cron scheduler that keeps the clock lock on every beat and stops when it
    has lost it."""

    def __init__(self, connection: Redis, lock: ClockLock, **kwargs) -> None:
        super().__init__(connection, **kwargs)
        self.lock = lock

    def _install_signal_handlers(self) -> None:
        """None: :func:`run_clock` installs its own, which also end a wait for Redis."""

    def heartbeat(self) -> None:
        if not self.lock.refresh():
            log.error("clock %s lost the clock lock to %s; stopping", self.lock.token,
                      self.lock.holder())
            raise StopRequested()
        super().heartbeat()


def lock_seconds(settings: Settings) -> float:
    """Longer than the scheduler's longest sleep (the interval, at most 60 s), with room."""
    return min(settings.POLL_INTERVAL_SECONDS, 60) * 2 + 30


def build_scheduler(redis: Redis, settings: Settings, lock: ClockLock) -> ClockScheduler:
    """The scheduler with the poll registered on the changes queue."""
    interval = settings.POLL_INTERVAL_SECONDS
    scheduler = ClockScheduler(redis, lock, logging_level=settings.LOG_LEVEL, name=lock.token)
    # ttl: a poll still queued after two intervals (workers down) is dropped; the next
    # one reads the same window anyway.
    scheduler.register(poll_changes, CHANGES, interval=interval, job_timeout=300,
                       result_ttl=3600, ttl=max(2 * interval, 60), name="bridge-poll")
    return scheduler


def run_clock(settings: Settings, redis: Redis, *, wait: bool = True) -> int:
    """Hold the clock lock (waiting for it, unless ``wait`` is False) and run the
    scheduler until stopped (SIGTERM, SIGINT, or the lock lost to another clock), through
    any Redis outage. Exit status 1 when another clock runs and ``wait`` is False."""
    lock = ClockLock(redis, lock_seconds(settings))
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True
        raise StopRequested()

    # Ours, not rq's (ClockScheduler keeps them): a stop must also end a wait for Redis.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    failures = 0
    try:
        while True:
            try:
                return _hold_and_run(settings, redis, lock, wait=wait)
            except UNREACHABLE as exc:
                if stopping:  # the scheduler's goodbye failed: it is stopped all the same
                    return 0
                delay = reconnect_delay(failures)
                failures += 1
                log.error("clock: Redis unavailable (%s); trying again in %.1f s", exc, delay)
            time.sleep(delay)
    except StopRequested:
        log.info("clock %s: stopped", lock.token)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _hold_and_run(settings: Settings, redis: Redis, lock: ClockLock, *, wait: bool) -> int:
    while not lock.acquire():
        holder = lock.holder()
        if not wait:
            log.error("another clock is running (%s); not starting a second one", holder)
            return 1
        log.warning("another clock holds the lock (%s); waiting for it", holder)
        time.sleep(WAIT_STEP)
    log.info("clock %s: polling Salesforce for changes every %d s", lock.token,
             settings.POLL_INTERVAL_SECONDS)
    try:
        build_scheduler(redis, settings, lock).start()
    finally:
        try:
            lock.release()
        except UNREACHABLE:  # it expires by itself; an outage must not hide why we stopped
            log.warning("clock %s: could not release the clock lock (Redis unavailable)",
                        lock.token)
    return 0

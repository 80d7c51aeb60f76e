"""Periodic jobs (the clock's change poll): a failure that a later run made good.

A periodic job's next run does the same work again (a poll reads from the watermarks the
last good one left), so once a later run went through, an earlier failure needs no
operator: :func:`superseded` tells ``connector status`` to leave it out. The failed job
stays in rq's failed registry, with its reason, until its failure TTL ends.

Key: ``bridge:periodic:ok`` (a hash: the job's function → when a run last went through).
"""

from __future__ import annotations

import time

from redis import Redis
from rq.job import Job

OK = "bridge:periodic:ok"
PERIODIC = ("jobs.poll.poll_changes",)


def note_success(redis: Redis, func_name: str, at: float | None = None) -> None:
    """Record that a run of ``func_name`` went through (now, or ``at``)."""
    redis.hset(OK, func_name, at if at is not None else time.time())


def last_success(redis: Redis, func_name: str) -> float | None:
    value = redis.hget(OK, func_name)
    return float(value) if value else None


def superseded(redis: Redis, job: Job) -> bool:
    """Whether ``job`` is a periodic job's run that failed before a later run went
    through."""
    if job.func_name not in PERIODIC or job.ended_at is None:
        return False
    ok = last_success(redis, job.func_name)
    return ok is not None and job.ended_at.timestamp() < ok

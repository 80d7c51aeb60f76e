"""Events received, written, waiting and retrying, per minute, read from what RQ keeps.

No counter of its own: an inbound job is made when a push is received (its
``enqueued_at``), and RQ keeps a finished job an hour (``jobs.queues.KEEP_SECONDS``) with
when it ended and what it returned (``"status": "written"``, ``"coalesced"``, ...).
Waiting and retrying are now's counts: the queue, and the jobs scheduled to run again.
The console reads this through ``webhooks/console/figures.py``, which a metrics snapshot
may replace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from jobs.queues import inbound_queue

MAX_JOBS = 2000  # the newest jobs read per registry: a page, not a report


@dataclass
class Minute:
    start: float  # epoch seconds at the minute's start
    received: int = 0
    written: int = 0
    failed: int = 0


@dataclass
class Throughput:
    minutes: list[Minute] = field(default_factory=list)  # oldest first
    waiting: int = 0
    retrying: int = 0
    running: int = 0
    failed: int = 0


def _epoch(when: datetime | None) -> float | None:
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def snapshot(redis: Redis, minutes: int = 30, now: float | None = None) -> Throughput:
    """The last ``minutes`` minutes of the inbound queue, minute by minute."""
    now = time.time() if now is None else now
    first = (int(now) // 60 - minutes + 1) * 60
    rows = [Minute(first + 60 * i) for i in range(minutes)]
    queue = inbound_queue(redis)
    scheduled = queue.scheduled_job_registry
    ids: list[str] = list(queue.get_job_ids())[-MAX_JOBS:]
    for registry in (StartedJobRegistry(queue=queue), FinishedJobRegistry(queue=queue),
                     FailedJobRegistry(queue=queue), scheduled):
        ids += registry.get_job_ids()[-MAX_JOBS:]

    def row(at: float | None) -> Minute | None:
        if at is None or at < first:
            return None
        index = int(at - first) // 60
        return rows[index] if index < minutes else None

    for job in Job.fetch_many(list(dict.fromkeys(ids)), connection=redis):
        if job is None:
            continue
        received = row(_epoch(job.enqueued_at) or _epoch(job.created_at))
        if received is not None:
            received.received += 1
        ended = row(_epoch(job.ended_at))
        if ended is None:
            continue
        if job.is_failed:
            ended.failed += 1
        elif job.is_finished:
            result = job.return_value()
            if isinstance(result, dict) and result.get("status") == "written":
                ended.written += 1
    return Throughput(rows, waiting=queue.count, retrying=scheduled.count,
                      running=queue.started_job_registry.count,
                      failed=queue.failed_job_registry.count)

"""Operators' tools: see what failed or was kept, and run it again.

Replaying is safe because every Salesforce write is idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from connector.events import InboundEvent
from jobs import batching
from jobs.inbound import UNHANDLED
from jobs.queues import enqueue_inbound, inbound_queue


@dataclass(frozen=True)
class FailedEvent:
    job_id: str
    description: str
    reason: str
    failed_at: str


def _reason(job: Job) -> str:
    """The last line of the failure: the error the job raised, with its code and fields."""
    result = job.latest_result()
    text = (result.exc_string if result and result.exc_string else "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "gave up (no exception recorded)"


def failed_events(redis: Redis, limit: int = 100) -> list[FailedEvent]:
    """The failed inbound jobs, newest first, each with the reason it failed."""
    registry = FailedJobRegistry(queue=inbound_queue(redis))
    ids = list(reversed(registry.get_job_ids()))[:limit]
    out = []
    for job in Job.fetch_many(ids, connection=redis):
        if job is not None:
            out.append(FailedEvent(job.id, job.description or "", _reason(job),
                                   str(job.ended_at or "")))
    return out


def replay_failed(redis: Redis, job_ids: list[str] | None = None) -> list[str]:
    """Requeue failed inbound jobs (all when ``job_ids`` is None); returns their ids."""
    registry = FailedJobRegistry(queue=inbound_queue(redis))
    ids = job_ids if job_ids is not None else registry.get_job_ids()
    done = []
    for job_id in ids:
        job = Job.fetch(job_id, connection=redis)
        event = InboundEvent.from_dict(job.args[0])
        batching.forget(redis, event.dedupe_key)
        registry.requeue(job_id)
        done.append(job_id)
    return done


def unhandled_count(redis: Redis) -> int:
    return redis.xlen(UNHANDLED)


def replay_unhandled(redis: Redis) -> int:
    """Enqueue the kept (unhandled) events again, e.g. after the mapping learned them."""
    count = 0
    for entry_id, fields in redis.xrange(UNHANDLED):
        event = InboundEvent.from_dict(json.loads(fields[b"event"]))
        job = Job.fetch(event.dedupe_key, connection=redis) if Job.exists(
            event.dedupe_key, connection=redis) else None
        if job is not None:
            job.delete()
        batching.forget(redis, event.dedupe_key)
        if enqueue_inbound(redis, event):
            count += 1
        redis.xdel(UNHANDLED, entry_id)
    return count

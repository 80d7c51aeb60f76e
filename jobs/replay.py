"""Operators' tools: run again what failed or was kept (``connector replay``,
``connector sync replay``).

Replaying is safe: every Salesforce write is idempotent, a change job reads its records
afresh and writes only what differs, and an event's batching outcome is cleared first
so its job processes it anew.
"""

from __future__ import annotations

import json

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from connector.events import InboundEvent
from connector.inbound.unhandled import UNHANDLED
from jobs import batching
from jobs.deaths import rearm
from jobs.queues import changes_queue, enqueue_inbound, inbound_queue


class UnknownJobError(LookupError):
    """A job id to replay that is not among the failed jobs."""


def replay_failed(redis: Redis, job_ids: list[str] | None = None) -> list[str]:
    """Requeue failed inbound jobs (all when ``job_ids`` is None); returns their ids.

    Raises:
        UnknownJobError: one of ``job_ids`` is not a failed inbound job (nothing is
            requeued then).
    """
    registry = FailedJobRegistry(queue=inbound_queue(redis))
    ids = job_ids if job_ids is not None else registry.get_job_ids()
    failed = set(registry.get_job_ids())
    unknown = [job_id for job_id in ids if job_id not in failed]
    if unknown:
        raise UnknownJobError(f"no failed job {', '.join(unknown)}")
    done = []
    for job_id in ids:
        job = Job.fetch(job_id, connection=redis)
        event = InboundEvent.from_dict(job.args[0])
        batching.forget(redis, event.dedupe_key)
        rearm(job)
        registry.requeue(job_id)
        done.append(job_id)
    return done


def replay_changes(redis: Redis, job_ids: list[str] | None = None) -> list[str]:
    """Requeue failed change jobs (all when ``job_ids`` is None); returns their ids."""
    registry = FailedJobRegistry(queue=changes_queue(redis))
    ids = job_ids if job_ids is not None else registry.get_job_ids()
    for job_id in ids:
        rearm(Job.fetch(job_id, connection=redis))
        registry.requeue(job_id)
    return list(ids)


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

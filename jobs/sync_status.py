"""What an operator sees of the way back: the poll's watermarks, the counters (echoes
dropped, writes made, refusals), the change queue and its failures; and replaying them.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from connector import sync_stats
from jobs.changes import changes_queue
from jobs.clock import LOCK as CLOCK_LOCK
from jobs.poll import last_polls


def _reason(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result and result.exc_string else "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "gave up (no exception recorded)"


def failed_changes(redis: Redis, limit: int = 20) -> list[dict[str, str]]:
    """The failed change jobs, newest first, each with the reason it failed."""
    registry = FailedJobRegistry(queue=changes_queue(redis))
    ids = list(reversed(registry.get_job_ids()))[:limit]
    return [{"job_id": job.id, "description": job.description or "",
             "reason": _reason(job), "failed_at": str(job.ended_at or "")}
            for job in Job.fetch_many(ids, connection=redis) if job is not None]


def collect(redis: Redis) -> dict[str, Any]:
    """Everything ``connector sync status`` shows."""
    queue = changes_queue(redis)
    clock = redis.get(CLOCK_LOCK)
    return {
        "clock": clock.decode() if clock else None,
        "polls": last_polls(redis),
        "counters": sync_stats.read(redis),
        "queued": queue.count,
        "scheduled": queue.scheduled_job_registry.count,
        "failed_count": queue.failed_job_registry.count,
        "failed": failed_changes(redis),
    }


def replay(redis: Redis, job_ids: list[str] | None = None) -> list[str]:
    """Requeue failed change jobs (all when ``job_ids`` is None). Safe: the job reads
    the records afresh and writes only what differs."""
    registry = FailedJobRegistry(queue=changes_queue(redis))
    ids = job_ids if job_ids is not None else registry.get_job_ids()
    for job_id in ids:
        registry.requeue(job_id)
    return list(ids)

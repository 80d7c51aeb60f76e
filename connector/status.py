"""What an operator sees at a glance: queue depth, failures with reasons, kept events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from redis import Redis

from connector.redis_connection import connect


def collect_status(redis: Redis | None = None, failed_limit: int = 20) -> dict[str, Any]:
    from jobs.queues import inbound_queue
    from jobs.replay import failed_events, unhandled_count

    redis = redis or connect()
    queue = inbound_queue(redis)
    return {
        "queued": queue.count,
        "running": queue.started_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "failed_count": queue.failed_job_registry.count,
        "failed": [asdict(f) for f in failed_events(redis, failed_limit)],
        "unhandled": unhandled_count(redis),
        "rejected": redis.llen("bridge:rejected"),
        "queues": other_queues(redis),
    }


def other_queues(redis: Redis) -> dict[str, dict[str, Any]]:
    """The way back's queues: changes (polls, Outbound Messages) and message requests,
    with their failed jobs' descriptions."""
    from jobs.changes import changes_queue
    from jobs.messages import messages_queue

    out = {}
    for queue in (changes_queue(redis), messages_queue(redis)):
        failed = queue.failed_job_registry
        out[queue.name] = {
            "queued": queue.count, "running": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count, "failed_count": failed.count,
            "failed": [job.description for job in queue.job_class.fetch_many(
                failed.get_job_ids(0, 9), connection=redis) if job is not None]}
    return out

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
    }

"""What an operator sees: the queues, their failed jobs with the reason each failed, the
kept events, and the way back's figures (``connector status``, ``connector sync
status``; the web app's refused requests are its own, ``webhooks/rejections.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from connector.followups import store as follow_ups
from connector.inbound import unhandled
from connector.salesforce import ApiBudget
from connector.wayback import counters
from connector.wayback.poll import last_polls
from jobs.clock import LOCK as CLOCK_LOCK
from jobs.queues import changes_queue, inbound_queue, messages_queue


@dataclass(frozen=True)
class FailedJob:
    job_id: str
    description: str
    reason: str
    failed_at: str


def failure_reason(job: Job) -> str:
    """The last line of the failure: the error the job raised, with its code and fields."""
    result = job.latest_result()
    text = (result.exc_string if result and result.exc_string else "") or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "gave up (no exception recorded)"


def failed_jobs(redis: Redis, queue: Queue, limit: int = 100) -> list[FailedJob]:
    """The failed jobs of ``queue``, newest first, each with the reason it failed."""
    ids = list(reversed(FailedJobRegistry(queue=queue).get_job_ids()))[:limit]
    return [FailedJob(job.id, job.description or "", failure_reason(job),
                      str(job.ended_at or ""))
            for job in Job.fetch_many(ids, connection=redis) if job is not None]


def collect_status(redis: Redis, failed_limit: int = 20) -> dict[str, Any]:
    """The queues ``connector status`` shows: the inbound queue with its failures and
    kept events, the way back's queues, and Salesforce's daily API limit (``salesforce``:
    whether calls are paused and why, the latest usage, the work held)."""
    queue = inbound_queue(redis)
    return {
        "queued": queue.count,
        "running": queue.started_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "failed_count": queue.failed_job_registry.count,
        "failed": [asdict(f) for f in failed_jobs(redis, queue, failed_limit)],
        "unhandled": unhandled.count(redis),
        "queues": other_queues(redis),
        "salesforce": ApiBudget(redis).status(),
        "follow_ups": follow_up_counts(redis),
    }


def other_queues(redis: Redis) -> dict[str, dict[str, Any]]:
    """The way back's queues: changes (polls, Outbound Messages) and message requests,
    with their failed jobs' descriptions."""
    out = {}
    for queue in (changes_queue(redis), messages_queue(redis)):
        failed = queue.failed_job_registry
        out[queue.name] = {
            "queued": queue.count, "running": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count, "failed_count": failed.count,
            "failed": [job.description for job in queue.job_class.fetch_many(
                failed.get_job_ids(0, 9), connection=redis) if job is not None]}
    return out


def follow_up_counts(redis: Redis) -> dict[str, int]:
    """Follow-ups kept (30 days) per status; their send jobs wait among the messages
    queue's scheduled jobs until due (``connector followups list`` shows each)."""
    return follow_ups.counts(redis)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def salesforce_lines(section: dict[str, Any]) -> list[str]:
    """The ``salesforce`` section of :func:`collect_status` in words: why jobs wait."""
    lines = []
    pause = section.get("paused")
    if pause:
        lines.append(f"salesforce: PAUSED since {_clock(pause['since'])}: the org's daily "
                     f"API limit is spent; jobs wait (re-scheduled, none fail) until a "
                     f"probe finds calls free; {pause['probes']} probes so far, next at "
                     f"{_clock(pause['next_probe'])}")
        lines.append(f"  why: {pause['why']}")
    usage = section.get("usage")
    if usage:
        share = usage["used"] / usage["limit"] if usage["limit"] else 1.0
        lines.append(f"salesforce API usage: {usage['used']}/{usage['limit']} ({share:.0%}) "
                     f"at {_clock(usage['at'])}")
    lines.extend(f"  {why}" for why in section.get("held", {}).values())
    return lines


def collect_sync(redis: Redis) -> dict[str, Any]:
    """Everything ``connector sync status`` shows: the clock, the poll's watermarks, the
    way back's counters, the change queue and its failures."""
    queue = changes_queue(redis)
    clock = redis.get(CLOCK_LOCK)
    return {
        "clock": clock.decode() if clock else None,
        "polls": last_polls(redis),
        "counters": counters.read(redis),
        "queued": queue.count,
        "scheduled": queue.scheduled_job_registry.count,
        "failed_count": queue.failed_job_registry.count,
        "failed": [asdict(f) for f in failed_jobs(redis, queue, 20)],
    }

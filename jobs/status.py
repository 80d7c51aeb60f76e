"""What an operator sees: the queues, their failed jobs with the reason each failed, the
kept events, and the way back's figures (``connector status``, ``connector sync
status``; the web app's refused requests are its own, ``webhooks/rejections.py``).

A failed job is one that needs an operator: a fatal failure, or a retriable one whose
retries are spent (``jobs/retry.py``, ``jobs/deaths.py``). A periodic job's failure that
a later run made good is not one (:mod:`jobs.periodic`). :func:`needs_operator` says
what needs one, and ``connector status`` exits non-zero while anything does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job

from connector.followups import store as follow_ups
from connector.inbound import unhandled
from connector.salesforce import ApiBudget
from connector.wayback import counters
from connector.wayback.poll import last_polls
from jobs import batching
from jobs.clock import LOCK as CLOCK_LOCK
from jobs.failures import failed, failure_reason
from jobs.queues import changes_queue, inbound_queue, messages_queue
from jobs.waiting import scheduled_reasons
from jobs.waiting import utc_clock as _clock


@dataclass(frozen=True)
class FailedJob:
    job_id: str
    description: str
    reason: str
    failed_at: str


def describe(job: Job) -> FailedJob:
    """A failed job as the operator reads it: id, description, reason, when."""
    return FailedJob(job.id, job.description or "", failure_reason(job),
                     str(job.ended_at or ""))


def failed_jobs(redis: Redis, queue: Queue, limit: int = 100) -> list[FailedJob]:
    """The failed jobs of ``queue`` (:func:`failed`), each with the reason it failed."""
    return [describe(job) for job in failed(redis, queue)[:limit]]


def collect_status(redis: Redis, failed_limit: int = 20) -> dict[str, Any]:
    """The queues ``connector status`` shows: the inbound queue (``in_batches``: its jobs
    a running batch took off the queue and will complete) with its failures and kept
    events, the way back's queues, and Salesforce's daily API limit (``salesforce``:
    whether calls are paused and why, the latest usage, the work held)."""
    queue = inbound_queue(redis)
    failures = failed(redis, queue)
    return {
        "queued": queue.count,
        "running": queue.started_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "retries_waiting": scheduled_reasons(queue),
        "in_batches": batching.in_batches(redis),
        "failed_count": len(failures),
        "failed": [asdict(describe(job)) for job in failures[:failed_limit]],
        "unhandled": unhandled.count(redis),
        "queues": other_queues(redis),
        "salesforce": ApiBudget(redis).status(),
        "follow_ups": follow_up_counts(redis),
    }


def other_queues(redis: Redis) -> dict[str, dict[str, Any]]:
    """The way back's queues: changes (polls, Outbound Messages) and message requests,
    with their failed jobs' descriptions and (in the same order) reasons."""
    out = {}
    for queue in (changes_queue(redis), messages_queue(redis)):
        jobs = failed(redis, queue)
        out[queue.name] = {
            "queued": queue.count, "running": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "retries_waiting": scheduled_reasons(queue), "failed_count": len(jobs),
            "failed": [job.description for job in jobs[:10]],
            "reasons": [failure_reason(job) for job in jobs[:10]]}
    return out


def follow_up_counts(redis: Redis) -> dict[str, int]:
    """Follow-ups kept (30 days) per status; their send jobs wait among the messages
    queue's scheduled jobs until due (``connector followups list`` shows each)."""
    return follow_ups.counts(redis)


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


def needs_operator(status: dict[str, Any]) -> list[str]:
    """What in ``status`` (:func:`collect_status`) needs an operator, each with the
    command that deals with it; empty when nothing does. Kept unhandled events are not
    counted: they are what the mapping chose not to handle (``connector replay
    --unhandled`` once it does); nor is a pause for the daily API limit: it ends by
    itself."""
    again = {"inbound": "`connector replay --all`",
             "changes": "`connector sync replay --all`",
             "messages": "`connector messages send --request ID`"}
    counts = {"inbound": status["failed_count"]} | {
        name: queue["failed_count"] for name, queue in status["queues"].items()}
    return [f"{count} failed {name} jobs: fix what their reasons name, then "
            f"{again.get(name, 'replay them')}" for name, count in counts.items() if count]


def collect_sync(redis: Redis) -> dict[str, Any]:
    """Everything ``connector sync status`` shows: the clock, the poll's watermarks, the
    way back's counters, the change queue and its failures."""
    queue = changes_queue(redis)
    clock = redis.get(CLOCK_LOCK)
    failures = failed(redis, queue)
    return {
        "clock": clock.decode() if clock else None,
        "polls": last_polls(redis),
        "counters": counters.read(redis),
        "queued": queue.count,
        "scheduled": queue.scheduled_job_registry.count,
        "retries_waiting": scheduled_reasons(queue),
        "failed_count": len(failures),
        "failed": [asdict(describe(job)) for job in failures[:20]],
    }

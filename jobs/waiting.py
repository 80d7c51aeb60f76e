"""Why the scheduled retries wait, and when they run next (``connector status``).

A job that returns a ``Retry`` after a retriable failure keeps that failure's parts in
its meta (:data:`jobs.deaths.RETRYING`, kept by :func:`jobs.deaths.keep_retry_reason`
from :func:`jobs.retry.retry_or_give_up`), the way a final failure keeps its own
(:data:`jobs.deaths.FAILURE`). :func:`scheduled_reasons` reads at most a capped number
of the soonest scheduled jobs (rq's ``ScheduledJobRegistry`` scores each by the time it
runs next) and groups them by that reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rq import Queue
from rq.job import Job
from rq.results import Result

from jobs.deaths import RETRYING
from jobs.failures import failure_reason

READ_CAP = 200  # scheduled jobs read, soonest first: a backlog costs one bounded read
TOP = 5  # reasons listed, the largest groups


def worded(kept: dict[str, Any]) -> str:
    """A kept failure as one line: system, status, code, then what happened."""
    head = " ".join(str(part) for part in (kept.get("system") or "bridge",
                                           kept.get("status"), kept.get("code")) if part)
    return f"{head}: {kept.get('message') or 'no message kept'}"


def reason_of(job: Job) -> str:
    """Why ``job`` waits: what its last scheduling kept (a retriable failure, or the
    words of a pause for Salesforce's daily API limit or of a wait for another job's
    batch: ``jobs/pausing.py``, ``jobs/inbound.py``); else the error it raised last (rq
    retries a raise)."""
    kept = job.meta.get(RETRYING)
    if kept:
        return kept.get("why") or worded(kept)
    result = job.latest_result()
    if result is not None and result.type == Result.Type.FAILED:
        return failure_reason(job)
    return "scheduled without a failure (a follow-up's send waits until it is due)"


def utc_clock(epoch: float) -> str:
    """``epoch`` as the operator reads a time: ``2026-12-04 18:30:00 UTC``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def scheduled_reasons(queue: Queue, cap: int = READ_CAP, top: int = TOP) -> dict[str, Any]:
    """The ``cap`` soonest scheduled jobs of ``queue`` grouped by :func:`reason_of`:
    ``reasons`` (the ``top`` largest groups, each with its ``count`` and ``next_try``,
    the earliest time one of them runs), ``read`` (how many were read) and ``capped``
    (whether more are scheduled than were read)."""
    registry = queue.scheduled_job_registry
    connection = queue.connection
    soonest = connection.zrange(registry.key, 0, cap - 1, withscores=True)
    jobs = Job.fetch_many([job_id.decode() for job_id, _ in soonest], connection=connection)
    groups: dict[str, dict[str, Any]] = {}
    for job, (_, score) in zip(jobs, soonest, strict=True):
        if job is None:  # expired or deleted meanwhile
            continue
        group = groups.setdefault(reason_of(job), {"count": 0, "next_try": score})
        group["count"] += 1
        group["next_try"] = min(group["next_try"], score)
    ranked = sorted(groups.items(), key=lambda item: (-item[1]["count"], item[1]["next_try"]))
    return {"read": len(soonest), "capped": registry.count > len(soonest),
            "reasons": [{"reason": reason, "count": group["count"],
                         "next_try": utc_clock(group["next_try"])}
                        for reason, group in ranked[:top]]}


def reason_lines(section: dict[str, Any], indent: str = "  ") -> list[str]:
    """:func:`scheduled_reasons` in words, one line per reason."""
    lines = [f"{indent}{group['count']} waiting, next try {group['next_try']}: "
             f"{group['reason']}" for group in section["reasons"]]
    if section["capped"]:
        lines.append(f"{indent}(only the {section['read']} soonest scheduled retries read)")
    return lines

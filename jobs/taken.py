"""The jobs a batch took: completed in rq by the batch's owner, as if each had run.

A batch's owner takes the waiting jobs of the events it claims off the queue
(``jobs/batching.py``), so no worker forks for them. It then completes each the way rq's
worker would have completed it (``rq/worker/base.py``: ``handle_job_success``,
``handle_job_failure``, ``handle_job_retry``), with rq's public API, so rq's own views
(the registries, ``job.get_status()``, ``job.latest_result()``), ``connector status`` and
``connector replay`` see a taken event exactly as one its own job ran:

- :class:`Finished`: status finished, a successful ``Result`` with the event's outcome
  (written in whose batch, kept, skipped), in the finished registry, kept ``result_ttl``;
- :class:`Failed`: status failed, in the failed registry with one line naming the error
  (its code and fields), a failed ``Result``; ``connector replay`` runs it again;
- :class:`Scheduled`: back later through rq's scheduled registry (a retry after a
  retriable failure, a wait for a follower another batch writes, a deferral for the
  daily API limit), counted in ``number_of_retries`` and in its meta like the ``Retry``
  the job would have returned (``jobs/inbound.py``, ``jobs/pausing.py``).

:func:`settle` writes all that, the events' recorded outcomes and the end of the taking
in one Redis transaction: a batch's owner killed at any point leaves each taken job
either completed with its outcome, or still taken (and so given back to its queue by the
release, ``jobs/deaths.py``, or by the sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.results import Result
from rq.utils import now

from connector import metrics
from connector.errors import BridgeError, RetriableError
from connector.salesforce.budget import PAUSE_KEEP_SECONDS
from jobs import batching
from jobs.backoff import retry_delay, with_jitter
from jobs.deaths import FAILURE, failure_meta
from jobs.pausing import DEFERRALS, WAITING, wait_seconds
from jobs.retry import gave_up

WAITS = "waits"  # the job's meta: how many times it waited for another batch


@dataclass(frozen=True)
class Finished:
    result: dict[str, Any]


@dataclass(frozen=True)
class Failed:
    error: BridgeError


@dataclass(frozen=True)
class Scheduled:
    """Back in ``delay`` seconds; ``counter`` names the meta count this adds to (a wait,
    a deferral, or none for a retry, which spends one of the job's retries)."""
    delay: int
    counter: str | None = None


Fate = Finished | Failed | Scheduled


def failure_line(error: BridgeError) -> str:
    """The failed registry's text for ``error``: one line, as the last line of a
    raised error's traceback reads (``jobs/status.py`` shows the last line)."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}: {error}"


def retries_done(job: Job) -> int:
    """The job's retries spent on failures (rq's count less its waits and deferrals)."""
    meta = job.meta or {}
    return (job.number_of_retries or 0) - int(meta.get(WAITS, 0)) - int(
        meta.get(DEFERRALS, 0))


def retry_fate(job: Job, error: RetriableError) -> Fate:
    """What ``jobs/retry.py`` decides for ``job`` after ``error`` (not the daily limit,
    see :func:`deferral_fate`): a retry after the common backoff, or failed once its
    retries are spent."""
    delay = retry_delay(error, retries_done(job))
    if delay is None:
        return Failed(gave_up(error))
    return Scheduled(with_jitter(delay))


def deferral_fate(job: Job, probe_seconds: float) -> Scheduled:
    """A deferral for the daily API limit (``jobs/pausing.py``: ``defer``)."""
    deferred = int((job.meta or {}).get(DEFERRALS, 0))
    return Scheduled(with_jitter(max(1, wait_seconds(probe_seconds, deferred))), DEFERRALS)


def settle(redis: Redis, jobs: dict[str, Job], fates: dict[str, Fate],
           recorded: dict[str, BridgeError | None], *, job_id: str = "",
           dropped: list[str] = ()) -> None:
    """In one transaction: record the events' outcomes ``recorded`` (``batching``'s
    ``done:`` keys, claims dropped), complete each taken job of ``fates`` in rq, end
    their taking (``taken``, the owner ``job_id``'s held hash) and drop the claims of
    ``dropped`` (events left to be tried again, whose jobs are scheduled or are the
    owner's own)."""
    at = now()
    held = batching.held_key(job_id)
    with redis.pipeline(transaction=True) as pipe:
        batching.mark_done(redis, recorded, pipe)
        for key in dropped:
            pipe.delete(batching.PREFIX + "claim:" + key)
            pipe.hdel(held, key)
        for key, fate in fates.items():
            job = jobs[key]
            _complete(job, Queue(job.origin, connection=redis), fate, at, pipe)
            # counted as its own run would be (jobs/deaths.py: outcome_of), in the same
            # transaction: a pipeline only queues the increment
            metrics.count(pipe, "jobs", job.origin, _outcome(fate))
            pipe.zrem(batching.TAKEN, key)
            pipe.hdel(held, key, "taken:" + key)
            pipe.delete(batching.PREFIX + "claim:" + key)  # recorded or to be tried again
        pipe.execute()


def _outcome(fate: Fate) -> str:
    if isinstance(fate, Finished):
        return str(fate.result.get("status", "done"))
    if isinstance(fate, Failed):
        return "failed"
    return "waiting" if fate.counter == WAITS else "retried"


def _complete(job: Job, queue: Queue, fate: Fate, at, pipe) -> None:
    if isinstance(fate, Finished):
        ttl = job.result_ttl if job.result_ttl is not None else 500  # rq's default
        job.started_at = job.ended_at = at
        job.set_status(JobStatus.FINISHED, pipeline=pipe)
        job.save(pipeline=pipe, include_meta=False, include_result=False)
        Result.create(job, Result.Type.SUCCESSFUL, ttl=ttl, return_value=fate.result,
                      pipeline=pipe)
        if ttl != 0:
            FinishedJobRegistry(queue=queue).add(job, ttl, pipe)
        job.cleanup(ttl, pipeline=pipe, remove_from_queue=False)
    elif isinstance(fate, Failed):
        line = failure_line(fate.error)
        job.started_at = job.ended_at = at
        job.retries_left = None  # final, as jobs/deaths.py's entry_point makes it
        job.meta[FAILURE] = failure_meta(fate.error)  # the console's card reads it
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job.save(pipeline=pipe, include_meta=True, include_result=False)
        FailedJobRegistry(queue=queue).add(job, ttl=job.failure_ttl, exc_string=line,
                                           pipeline=pipe)
        Result.create_failure(job, job.failure_ttl, exc_string=line, pipeline=pipe)
    else:
        job.number_of_retries = (job.number_of_retries or 0) + 1
        if fate.counter:
            job.meta[fate.counter] = int(job.meta.get(fate.counter, 0)) + 1
        if fate.counter == DEFERRALS:  # woken with the others when the pause ends
            pipe.sadd(WAITING, f"{job.origin} {job.id}").expire(WAITING, PAUSE_KEEP_SECONDS)
        queue.schedule_job(job, at + timedelta(seconds=fate.delay), pipeline=pipe)

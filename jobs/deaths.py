"""A job whose process dies is retried with the common backoff, and its claims are
released at once (the jobs its batch took go back to the front of their queue,
``jobs/batching.py``): a killed work horse never parks a job in the failed registry.

How a job can die, and who notices:

- its work horse is killed (SIGKILL when a dyno runs out of memory, a timeout): the
  worker sees it at once (rq's ``monitor_work_horse``): :func:`horse_killed` drops the
  job's batch claims, then rq retries the job because it has ``retries_left``;
- Heroku's SIGTERM: rq's ``HerokuWorker`` makes the horse raise
  ``ShutDownImminentException``; :func:`entry_point` drops the claims, rq retries;
- the whole worker dies with its horse (the dyno is gone): the job stays "started" until
  its heartbeat lapses (rq: the job monitoring interval + 60 s), then a surviving
  worker's maintenance, every :data:`MAINTENANCE_SECONDS`, finds it abandoned
  (``StartedJobRegistry.cleanup``): :func:`abandoned` drops its claims and rq retries it
  (about two minutes after the death, all told).
  The claims' own lease (``jobs/batching.py``) frees them meanwhile in any case.

rq retries those because every job is enqueued with :func:`death_retry` (rq's
``Retry``: ``retries_left`` and intervals, the common backoff of ``jobs/retry.py`` with
jitter). That budget is apart from the retries a job asks for by *returning* a
``Retry`` after a retriable failure (rq counts those in ``number_of_retries``).

A job that *raises* is retried the same way (Redis went away mid-job, a bug, a
timeout) unless what it raised is final: a :class:`~connector.errors.BridgeError` that is
not retriable (a fatal failure, or a retriable one whose retries are spent) goes to the
failed registry at once, with its reason (:func:`entry_point` clears ``retries_left``).

The scheduler that moves retries back to their queue runs in one worker at a time (rq's
scheduler lock, refreshed every second, lapses 61 s after its worker dies); every other
worker tries to take it over at each maintenance, so the retries go on, at most about
a minute and a half late (rq's default maintenance would leave them up to 11 minutes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from rq import Retry, get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job

from connector import logs, metrics
from connector.errors import BridgeError, RetriableError
from jobs import batching
from jobs.backoff import death_retry

log = logging.getLogger(__name__)

# How often a worker runs rq's maintenance (abandoned jobs, the scheduler's takeover);
# rq's default is 10 minutes, too long for a dead dyno's jobs to wait. An idle worker
# checks only between two waits for a job, each ``worker_ttl - 15`` s long (rq's
# ``dequeue_timeout``): the worker's TTL is set to match.
MAINTENANCE_SECONDS = 30
WORKER_TTL = MAINTENANCE_SECONDS + 15

F = TypeVar("F", bound=Callable[..., Any])


def rearm(job: Job) -> None:
    """Give ``job`` its death retries again (a replayed job may have spent them, or had
    them cleared by a fatal failure); saved with the job."""
    retry = death_retry()
    job.retries_left, job.retry_intervals = retry.max, retry.intervals
    job.save()


def is_final(error: BaseException) -> bool:
    """Whether ``error`` ends the job for good (no retry after a raise)."""
    return isinstance(error, BridgeError) and not isinstance(error, RetriableError)


def entry_point(func: F) -> F:
    """Wrap a job's function: whatever it raises drops the job's claims (its events' own
    jobs take them), and a final failure (:func:`is_final`) is not retried. Every line
    logged meanwhile carries the job id (``connector.logs``), and the run is counted by
    its outcome (:func:`outcome_of`, ``connector.metrics`` family ``jobs``)."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        job = get_current_job()
        waits = int(job.meta.get("waits", 0)) if job is not None else 0
        with logs.context(job_id=job.id if job is not None else None):
            try:
                result = func(*args, **kwargs)
            except BaseException as error:  # ShutDownImminentException is a BaseException
                if job is not None:
                    release_claims(job)
                    if is_final(error):
                        job.retries_left = None  # read by rq's handle_job_failure next
                        keep_failure(job, error)
                    _count(job, "failed" if is_final(error) else "errored")
                raise
            if job is not None:
                _count(job, outcome_of(result, waited=int(job.meta.get("waits", 0)) > waits))
            return result

    return run  # type: ignore[return-value]


def outcome_of(result: Any, *, waited: bool = False) -> str:
    """A finished run's outcome for the ``jobs`` counter: a returned ``Retry`` is
    ``waiting`` (its event was in another job's batch: no failure) or ``retried`` (a
    retriable failure, or the daily API limit's pause); a returned dict says its own
    ``status`` (``written``, ``skipped``, ``coalesced``, ``kept`` ...); else ``done``.
    (A raised run is ``failed`` when final, else ``errored``: rq retries it.)"""
    if isinstance(result, Retry):
        return "waiting" if waited else "retried"
    if isinstance(result, dict) and isinstance(result.get("status"), str):
        return result["status"]
    return "done"


def _count(job: Job, outcome: str) -> None:
    metrics.count(job.connection, "jobs", job.origin or "direct", outcome)


FAILURE = "failure"  # job.meta key: what the final failure said, field by field


def failure_meta(error: BridgeError) -> dict[str, Any]:
    """What :data:`FAILURE` holds for ``error``."""
    return {"system": error.system, "status": error.status, "code": error.code,
            "message": error.message, "fields": list(error.fields),
            "request_id": error.request_id}


def keep_failure(job: Job, error: BaseException) -> None:
    """Keep the final failure's parts in ``job.meta`` (:data:`FAILURE`): the console
    groups failed jobs by ``system`` and ``code`` and shows the ``message`` (reason and
    fix) and ``fields`` without reading a traceback. Never raises."""
    if not isinstance(error, BridgeError):
        return
    job.meta[FAILURE] = failure_meta(error)
    try:
        job.save_meta()
    except Exception:  # noqa: BLE001 - Redis away: the reason stays in rq's traceback
        log.warning("could not keep the failure of job %s", job.id, exc_info=True)


RETRYING = "retrying"  # job.meta key: the retriable failure a scheduled retry waits out


def keep_retry_reason(job: Job | None, error: BridgeError) -> None:
    """Keep ``error``'s parts (as :func:`failure_meta`) in ``job.meta`` (:data:`RETRYING`)
    while the job waits for its retry: ``connector status`` says why retries wait
    (``jobs/waiting.py``). A job that re-schedules itself for another reason (a pause, a
    busy batch) puts its own words there instead (``{"why": ...}``). Never raises."""
    if job is None:
        return
    job.meta[RETRYING] = failure_meta(error)
    try:
        job.save_meta()
    except Exception:  # noqa: BLE001 - Redis away: the retry goes on without its reason
        log.warning("could not keep the retry reason of job %s", job.id, exc_info=True)


def release_claims(job: Job) -> None:
    """Drop the claims ``job`` still holds; never raises (the job's fate is decided
    elsewhere, and the lease frees the claims anyway)."""
    try:
        dropped = batching.release_job(job.connection, job.id)
    except Exception:  # noqa: BLE001 - Redis away: the claims' lease frees them
        log.warning("could not release the claims of job %s; their lease will", job.id,
                    exc_info=True)
        return
    if dropped:
        log.warning("job %s died holding %d claims; released", job.id, dropped)


def horse_killed(job: Job, retpid: int, ret_val: int, rusage: object) -> None:
    """rq's ``work_horse_killed_handler``: runs in the worker when the horse of ``job``
    ended without finishing, before rq retries (or fails) the job."""
    release_claims(job)


def abandoned(job: Job, exc_type: type, exc_value: BaseException, tb: object) -> bool:
    """rq exception handler: a job found abandoned (its worker died) drops its claims.
    Returns True: the next handlers run too."""
    if exc_type is AbandonedJobError:
        release_claims(job)
    return True

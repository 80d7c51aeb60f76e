"""When a job retries, after how long, and when it gives up: one policy for every job.

The decision (:func:`~jobs.backoff.retry_delay`, in ``jobs/backoff.py`` with the backoff
itself) is pure. The server's hint (``retry_after`` on WeChat
45009/45011 or Salesforce REQUEST_LIMIT_EXCEEDED) comes before the generic backoff.
Jitter lives in its own function so tests can pin it. :func:`retry_or_give_up` is what a
job returns on a retriable failure: rq's ``Retry`` with that delay, or — the retries
spent — a :class:`~connector.errors.FatalError` that keeps everything the failure said
(system, status, code, fields, request id), so the failed registry shows it.
"""

from __future__ import annotations

import logging

from rq import Retry, get_current_job

from connector.errors import FatalError, RetriableError
from connector.salesforce.limits import is_daily_limit
from jobs.backoff import BACKOFF, MAX_RETRIES, retry_delay, with_jitter
from jobs.deaths import keep_retry_reason
from jobs.pausing import deferrals, wait_for_limit

log = logging.getLogger(__name__)

def retries_done() -> int:
    """How many times rq has retried the job running now (0 outside a job)."""
    job = get_current_job()
    # a pause's deferrals (jobs/pausing.py) are rq retries too, but spend none of ours
    return (job.number_of_retries or 0) - deferrals(job) if job else 0


def gave_up(error: RetriableError) -> FatalError:
    """The failure to keep once the retries of ``error`` are spent: its words, system,
    status, code, fields and request id (each said once in its text)."""
    return FatalError(f"gave up after {MAX_RETRIES} retries: {error.message}",
                      system=error.system,
                      status=error.status, code=error.code, request_id=error.request_id,
                      fields=list(error.fields))


def retry_or_give_up(error: RetriableError, what: str, done: int | None = None) -> Retry:
    """The ``Retry`` a job returns after ``error``; ``what`` names the work for the log
    (``event wx-evt-…``), ``done`` the retries so far (default: the current job's).

    Salesforce's daily API limit is no failure to retry: the queues pause until it frees
    calls, and the job waits without spending its retries (``jobs/pausing.py``).

    Raises:
        FatalError: the retries are spent (see :func:`gave_up`).
    """
    if is_daily_limit(error):
        return wait_for_limit(error, what)
    delay = retry_delay(error, retries_done() if done is None else done)
    if delay is None:
        raise gave_up(error) from None
    delay = with_jitter(delay)
    log.warning("%s will be retried in %d s: %s", what, delay, error)
    # The policy above decides when to give up; rq's own count (which includes a pause's
    # deferrals and a busy batch's waits) must never fail the job first: one more, always.
    job = get_current_job()
    keep_retry_reason(job, error)
    return Retry(max=max(MAX_RETRIES + 1 + deferrals(), (job.number_of_retries or 0) + 1
                         if job else 0), interval=delay)


__all__ = ["BACKOFF", "MAX_RETRIES", "gave_up", "retries_done", "retry_delay",
           "retry_or_give_up", "with_jitter"]

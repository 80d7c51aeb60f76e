"""When a job retries, after how long, and when it gives up: one policy for every job.

The decision (:func:`retry_delay`) is pure. The server's hint (``retry_after`` on WeChat
45009/45011 or Salesforce REQUEST_LIMIT_EXCEEDED) comes before the generic backoff.
Jitter lives in its own function so tests can pin it. :func:`retry_or_give_up` is what a
job returns on a retriable failure: rq's ``Retry`` with that delay, or — the retries
spent — a :class:`~connector.errors.FatalError` that keeps everything the failure said
(system, status, code, fields, request id), so the failed registry shows it.
"""

from __future__ import annotations

import logging
import math
import random

from rq import Retry, get_current_job

from connector.errors import FatalError, RetriableError
from connector.salesforce.limits import is_daily_limit
from jobs.pausing import deferrals, wait_for_limit

log = logging.getLogger(__name__)

# Seconds before each retry: a minute-long outage heals by the 4th; the last is ~1 h out.
BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900, 1800)
MAX_RETRIES = len(BACKOFF)


def retry_delay(error: RetriableError, retries_done: int) -> int | None:
    """Seconds to wait before the next attempt, or None to give up.

    Args:
        error: the failure of the attempt that just ran.
        retries_done: how many retries already happened (0 after the first attempt).
    """
    if retries_done >= MAX_RETRIES:
        return None
    delay = BACKOFF[retries_done]
    if error.retry_after:
        delay = max(delay, math.ceil(error.retry_after))
    return delay


def with_jitter(delay: int, rng: random.Random | None = None) -> int:
    """``delay`` plus up to 20 %, so a crowd of retries doesn't return as one."""
    rng = rng or random.Random()  # noqa: S311 - spreading retries, not cryptography
    return delay + rng.randint(0, max(1, delay // 5))


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
    return Retry(max=MAX_RETRIES + 1 + deferrals(), interval=delay)

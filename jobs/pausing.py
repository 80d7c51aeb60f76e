"""Jobs wait out the org's daily API limit instead of failing.

The daily limit is counted over a rolling 24 hours: once Salesforce refuses calls for
it (REQUEST_LIMIT_EXCEEDED, "TotalRequests Limit exceeded."), calls stay refused until
older ones age out, often hours: longer than the retry horizon (``jobs/retry.py``). So:

- a job that is refused for the limit pauses the queues (:class:`ApiBudget.pause`,
  ``connector/salesforce/budget.py``) and re-schedules itself (:func:`wait_for_limit`,
  which ``jobs.retry.retry_or_give_up`` hands such failures to);
- every job that calls Salesforce first asks :func:`hold_while_paused`: while the pause
  lasts it re-schedules itself without calling Salesforce, except for one job per
  ``SALESFORCE_LIMIT_PROBE_SECONDS``, which probes (``GET limits``, one call) and, when
  calls are free again, ends the pause and goes on;
- a deferral is an rq ``Retry`` that does not spend the job's retries: it is counted
  in the job's meta (``deferrals``), which :func:`deferrals` gives ``jobs/retry.py`` to
  subtract. Nothing reaches the failed registry, and no job gives up, for the limit.

The clock's poll is not deferred (the clock enqueues the next one anyway): it skips.
"""

from __future__ import annotations

import logging
import random

from rq import Retry, get_current_job
from rq.job import Job

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError
from connector.salesforce import ApiBudget, ApiUsage
from connector.salesforce.limits import probe_frees
from jobs.runtime import get_context

log = logging.getLogger(__name__)

DEFERRALS = "deferrals"


def budget_of(ctx: WorkerContext) -> ApiBudget:
    return ApiBudget.for_settings(ctx.redis, ctx.settings)


def deferrals(job: Job | None = None) -> int:
    """How many times the job (default: the current one) was deferred by a pause."""
    job = job or get_current_job()
    return int(job.meta.get(DEFERRALS, 0)) if job else 0


def defer(seconds: float, what: str, why: str) -> Retry:
    """The ``Retry`` that re-schedules the current job in about ``seconds`` without
    spending its retries (see :func:`deferrals`)."""
    job = get_current_job()
    delay = max(1, round(seconds))
    # up to 20 % more, as jobs.retry.with_jitter (not imported: retry imports this
    # module), so the jobs that waited do not all come back in the same second
    delay += random.Random().randint(0, max(1, delay // 5))  # noqa: S311 - not crypto
    done = 0
    if job is not None:
        job.meta[DEFERRALS] = deferrals(job) + 1
        job.save_meta()
        done = job.number_of_retries or 0
    log.info("%s waits %d s for Salesforce: %s", what, delay, why)
    # rq fails a job whose retries reach ``max``: one more than it has had, always.
    return Retry(max=done + 1, interval=delay)


def probe(ctx: WorkerContext, budget: ApiBudget) -> bool:
    """Ask Salesforce whether calls go again (one ``GET limits``); True ends the pause."""
    usage: ApiUsage | None = None
    error: BridgeError | None = None
    try:
        usage = ctx.salesforce.api_usage()
    except BridgeError as exc:
        error = exc
    if probe_frees(usage, error):
        if error is not None:  # the call went through the limit; the limits stay unknown
            log.warning("Salesforce probe: the limits could not be read (%s); calls go "
                        "again", error)
        budget.resume(usage)
        return True
    budget.probed(usage, str(error) if error else f"usage {usage}")
    return False


def paused_why(ctx: WorkerContext) -> str | None:
    """None when calls to Salesforce may go (no pause, or this caller's probe ended it);
    else why they wait.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    budget = budget_of(ctx)
    pause = budget.paused()
    if pause is None or (budget.claim_probe() and probe(ctx, budget)):
        return None
    return pause.why


def hold_while_paused(ctx: WorkerContext, what: str) -> Retry | None:
    """None when the job may call Salesforce (see :func:`paused_why`); else the
    ``Retry`` the job returns to wait, having called nothing.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    why = paused_why(ctx)
    return None if why is None else defer(budget_of(ctx).probe_seconds, what, why)


def pause_for(ctx: WorkerContext, error: RetriableError) -> str:
    """Pause the queues for ``error`` (the daily limit); why they wait."""
    return budget_of(ctx).pause(str(error), error.code).why


def wait_for_limit(error: RetriableError, what: str) -> Retry:
    """Pause the queues for ``error`` (the daily limit) and re-schedule the current job."""
    ctx = get_context()
    return defer(budget_of(ctx).probe_seconds, what, pause_for(ctx, error))

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
  subtract. Nothing reaches the failed registry, and no job gives up, for the limit;
- a job waits longer at each deferral (the probe interval, doubling, at most
  :data:`WAIT_CAP` seconds), so thousands of waiting events cost few wake-ups in an
  hours-long pause; the probe that ends the pause puts every waiting job back on its
  queue at once (:func:`wake_waiting`; their ids are kept in ``bridge:salesforce:
  waiting``), so none waits out its deferral for nothing.

The clock's poll is not deferred (the clock enqueues the next one anyway): it skips, but
it probes like any job, so the pause ends within an interval of the limit freeing calls
even while every waiting job sleeps.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError
from connector.salesforce import ApiBudget, ApiUsage
from connector.salesforce.budget import PAUSE_KEEP_SECONDS
from connector.salesforce.limits import probe_frees
from jobs.backoff import with_jitter
from jobs.deaths import RETRYING
from jobs.runtime import get_context

log = logging.getLogger(__name__)

DEFERRALS = "deferrals"
WAITING = "bridge:salesforce:waiting"  # "<queue> <job id>" of the jobs a pause deferred
WAIT_CAP = 3600  # seconds: the longest a deferred job sleeps before it looks again


def budget_of(ctx: WorkerContext) -> ApiBudget:
    return ApiBudget.for_settings(ctx.redis, ctx.settings)


def deferrals(job: Job | None = None) -> int:
    """How many times the job (default: the current one) was deferred by a pause."""
    job = job or get_current_job()
    return int(job.meta.get(DEFERRALS, 0)) if job else 0


def wait_seconds(probe_seconds: float, deferred: int) -> int:
    """How long a job deferred ``deferred`` times before sleeps now: the probe interval,
    doubled at each deferral, at most :data:`WAIT_CAP` (or the interval, if longer)."""
    return round(min(probe_seconds * 2 ** min(deferred, 16), max(WAIT_CAP, probe_seconds)))


def defer(probe_seconds: float, what: str, why: str) -> Retry:
    """The ``Retry`` that re-schedules the current job (see :func:`wait_seconds`)
    without spending its retries (see :func:`deferrals`), and notes it for
    :func:`wake_waiting`."""
    job = get_current_job()
    delay = max(1, wait_seconds(probe_seconds, deferrals(job)))
    delay = with_jitter(delay)  # so the jobs that waited do not come back in one second
    done = 0
    if job is not None:
        job.meta[DEFERRALS] = deferrals(job) + 1
        job.meta[RETRYING] = {"why": "waits for Salesforce's daily API limit to free calls"}
        job.save_meta()
        with job.connection.pipeline() as pipe:  # kept no longer than a pause's flag
            pipe.sadd(WAITING, f"{job.origin} {job.id}").expire(WAITING, PAUSE_KEEP_SECONDS)
            pipe.execute()
        done = job.number_of_retries or 0
    log.info("%s waits %d s for Salesforce: %s", what, delay, why)
    # rq fails a job whose retries reach ``max``: one more than it has had, always.
    return Retry(max=done + 1, interval=delay)


def wake_waiting(redis: Redis) -> int:
    """Put the jobs a pause deferred back on their queues now (rq's scheduler would at
    their time); how many. A job no longer scheduled (running, gone) is left alone."""
    woken = 0
    while (member := redis.spop(WAITING)) is not None:
        name, _, job_id = (member.decode() if isinstance(member, bytes) else member
                           ).partition(" ")
        try:
            Queue(name, connection=redis).scheduled_job_registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError):
            continue
        woken += 1
    return woken


def probe(ctx: WorkerContext, budget: ApiBudget) -> bool:
    """Ask Salesforce whether calls go again (one ``GET limits``); True ends the pause
    and wakes the jobs that waited for it."""
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
        log.info("%d waiting jobs put back on their queues", wake_waiting(ctx.redis))
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

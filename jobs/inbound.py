"""The inbound job: one per WeChat event, coalesced into batches under load.

``handle_event`` is what the callback enqueues, once per event. It claims its own event
and other pending ones, taking their jobs off the queue (``jobs/batching.py``; during a
burst it gathers those arriving in the next second too, and renews its leases while it
runs), runs
them as one batch (:func:`connector.inbound.batch.run_batch`), and completes the jobs it
took with their events' outcomes (``jobs/taken.py``: finished, failed, or scheduled
exactly as below), so they cost no worker a fork or a wait. Its own event's outcome
decides the job's:

- written: the job succeeds (a taken job's result says ``coalesced``, and by whom);
- retriable failure: the job returns an rq ``Retry`` with backoff (``jobs/retry.py``);
- fatal failure: the job raises it and lands in rq's failed registry, with a reason that
  names the Salesforce error code and fields; ``connector replay`` runs it again;
- skippable (nothing to do) or an event kind the mapping doesn't handle: the job
  succeeds; unhandled events are kept (``connector/inbound/unhandled.py``);
- its event (or its follower) is in another running job's batch: the job comes back a
  moment later (a ``Retry`` that is no failure) rather than holding its worker; a taken
  job whose follower another batch writes is scheduled the same way;
- the org's daily API limit is spent: the job waits without calling Salesforce
  (``jobs/pausing.py``);
- its work horse dies: its claims are released, the jobs it took go back to the front of
  the queue, and rq retries it (``jobs/deaths.py``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job

from connector import logs
from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError, SkippableError
from connector.events import InboundEvent
from connector.inbound.batch import BatchResult, run_batch
from connector.salesforce.limits import is_daily_limit
from jobs import batching
from jobs.deaths import RETRYING, entry_point
from jobs.pausing import budget_of, hold_while_paused, pause_for
from jobs.queues import INBOUND
from jobs.retry import retries_done, retry_or_give_up
from jobs.runtime import get_context
from jobs.taken import (
    WAITS,
    Failed,
    Fate,
    Finished,
    Scheduled,
    deferral_fate,
    retry_fate,
    settle,
)

log = logging.getLogger(__name__)

# A job whose event (or whose follower) is in another job's batch looks again after these
# seconds (a batch gathers for a second and takes a few more; the last step repeats until
# the holder ends or dies); it does not hold its worker meanwhile.
WAIT_SECONDS = (1, 2, 4, 8, 15)


@entry_point
def handle_event(event_data: dict[str, Any]) -> dict[str, Any] | Retry:
    """Process one inbound event (and whatever else is pending with it).

    Raises:
        FatalError: the event cannot be written until the data or mapping changes.
        RetriableError: run outside rq, and another batch holds the event or its follower.
    """
    ctx = get_context()
    event = InboundEvent.from_dict(event_data)
    logs.set_context(event_key=event.dedupe_key)  # every line of this job names it
    waiting = hold_while_paused(ctx, f"event {event.dedupe_key}")  # the daily API limit
    if waiting is not None:
        return waiting
    job = get_current_job()
    owner = f"{job.id if job else 'direct'}:{uuid.uuid4().hex[:8]}"
    claimed = _claim_own(ctx.redis, job, owner, event.dedupe_key)
    if not isinstance(claimed, list):
        return claimed
    held_by = _held_by(job, owner)
    with batching.renewing(ctx.redis, held_by, owner):  # the leases last while we run
        claimed = batching.gather(ctx.redis, _queue_key(ctx.redis, job), owner, claimed,
                                  job_id=held_by)
        batch = _hold_followers(ctx.redis, event, claimed, owner, job)
        if batch is None:  # another batch writes our follower: come back when it is done
            if job is None:
                raise RetriableError(f"follower {event.openid} of {event.account} is being "
                                     "written by another job's batch", code="FOLLOWER_BUSY")
            return _wait(job)
        events, jobs = batch
        return _run(ctx, event, events, jobs, owner, job)


def _queue_key(redis: Redis, job: Job | None) -> str:
    """The rq queue list our job came from (the inbound queue, run outside rq)."""
    return Queue(job.origin if job else INBOUND, connection=redis).key


def _hold_followers(redis: Redis, event: InboundEvent, claimed: list[str], owner: str,
                    job: Job | None) -> tuple[dict[str, InboundEvent], dict[str, Job]] | None:
    """The claimed events (ours included) whose followers we now hold, and the jobs we
    took for them; None, with every claim dropped and every job taken given back to the
    queue, when another batch holds our own event's follower. A taken job whose follower
    another batch holds is scheduled to look again (:data:`WAIT_SECONDS`). (Two batches
    never write one follower at once: a racing upsert of a new key would be refused.)"""
    key = event.dedupe_key
    job_id = _held_by(job, owner)
    taken = [k for k in claimed if k != key]
    jobs = batching.load_jobs(redis, taken)
    batching.release(redis, owner, [k for k in taken if k not in jobs], job_id=job_id,
                     requeue=False)  # their jobs are gone
    events = {key: event} | {k: InboundEvent.from_dict(j.args[0]) for k, j in jobs.items()}
    busy = batching.claim_followers(redis, owner, events, job_id=job_id)
    if key in busy:
        batching.release_followers(redis, owner, events)
        batching.release(redis, owner, list(events), job_id=job_id)
        return None
    if busy:
        settle(redis, jobs, {k: _wait_fate(jobs[k]) for k in busy}, {}, job_id=job_id)
    return ({k: e for k, e in events.items() if k not in busy},
            {k: j for k, j in jobs.items() if k not in busy})


def _held_by(job: Job | None, owner: str) -> str:
    """Whose ``held:`` hash notes the claims: the job's (which its death releases), or,
    run outside rq, the owner's (so that what it takes can be given back)."""
    return job.id if job else owner


def _claim_own(redis: Redis, job: Job | None, owner: str,
               key: str) -> list[str] | dict[str, Any] | Retry:
    """Our batch (own key first); or our event's outcome if another job handled it; or,
    while another job's batch holds it, a ``Retry`` (:data:`WAIT_SECONDS`): the worker is
    free meanwhile, and the holder either records the outcome or releases the event
    (at the latest when it dies: ``jobs/deaths.py``).

    Raises:
        BridgeError: the batch that held our event recorded its failure.
        RetriableError: held by another batch, and no rq job to reschedule.
    """
    held_by = _held_by(job, owner)
    claimed = batching.claim(redis, _queue_key(redis, job), owner, key, job_id=held_by)
    if key in claimed:
        return claimed
    batching.release(redis, owner, claimed, job_id=held_by)  # the jobs taken go back
    state, error = batching.outcome(redis, key)
    if state == "done":
        return {"event": key, "status": "coalesced"}
    if state == "failed":
        if isinstance(error, SkippableError):
            return {"event": key, "status": "skipped", "reason": str(error)}
        raise error
    if job is None:
        raise RetriableError(f"event {key} is held by another batch")
    return _wait(job)


def _wait_fate(job: Job) -> Scheduled:
    """:func:`_wait` for a job taken into a batch (completed by the batch's owner)."""
    waits = int(job.meta.get(WAITS, 0))
    return Scheduled(WAIT_SECONDS[min(waits, len(WAIT_SECONDS) - 1)], WAITS)


def _wait(job: Job) -> Retry:
    """Come back after the next of :data:`WAIT_SECONDS`; a wait is no failure (the job's
    meta counts them, and :func:`_retry` leaves them out)."""
    waits = int(job.meta.get(WAITS, 0))
    job.meta[WAITS] = waits + 1
    job.meta[RETRYING] = {"why": "waits for another job's batch to finish with its event"}
    job.save_meta()
    # rq fails a job whose retries reached ``max``: a wait always has one more
    return Retry(max=(job.number_of_retries or 0) + 1,
                 interval=WAIT_SECONDS[min(waits, len(WAIT_SECONDS) - 1)])


def _retry(error: RetriableError, key: str, job: Job | None) -> Retry:
    """:func:`~jobs.retry.retry_or_give_up`, counting failures only, not waits.

    Raises:
        FatalError: the retries are spent.
    """
    if job is None:
        return retry_or_give_up(error, f"event {key}")
    retried = job.number_of_retries or 0
    # rq's count includes the waits and a pause's deferrals: neither spends a retry
    retry = retry_or_give_up(error, f"event {key}",
                             retries_done() - int(job.meta.get(WAITS, 0)))
    retry.max = max(retry.max, retried + 1)
    return retry


def _run(ctx: WorkerContext, event: InboundEvent, events: dict[str, InboundEvent],
         jobs: dict[str, Job], owner: str, job: Job | None) -> dict[str, Any] | Retry:
    """Run the claimed batch, record each event's outcome and complete the jobs taken
    (``jobs``); our event's outcome is the job's. The followers' hold is dropped at the
    end, whatever happened."""
    try:
        return _run_held(ctx, event, events, jobs, owner, job)
    finally:
        batching.release_followers(ctx.redis, owner, events)


def _run_held(ctx: WorkerContext, event: InboundEvent, events: dict[str, InboundEvent],
              jobs: dict[str, Job], owner: str, job: Job | None) -> dict[str, Any] | Retry:
    key = event.dedupe_key
    job_id = _held_by(job, owner)
    try:
        done = run_batch(ctx, events)
    except RetriableError as error:
        settle(ctx.redis, jobs, _retry_fates(ctx, jobs, dict.fromkeys(jobs, error)), {},
               job_id=job_id, dropped=[key])
        return _retry(error, key, job)
    except BridgeError as error:  # the whole call was refused: every event shares the fate
        settle(ctx.redis, jobs, dict.fromkeys(jobs, Failed(error)),
               dict.fromkeys(events, error), job_id=job_id)
        log.error("batch of %d failed: %s", len(events), error)
        raise
    outcomes = done.outcomes
    retriable = {k: e for k, e in outcomes.items() if isinstance(e, RetriableError)}
    fates = {k: _fate(k, events[k], outcomes.get(k), done, len(events), job_id)
             for k in jobs if k not in retriable}
    fates |= _retry_fates(ctx, jobs, {k: e for k, e in retriable.items() if k in jobs})
    settle(ctx.redis, jobs, fates, {k: e for k, e in outcomes.items() if k not in retriable},
           job_id=job_id, dropped=[key] if key in retriable else [])
    own = outcomes.get(key)
    if isinstance(own, RetriableError):
        return _retry(own, key, job)
    if own is not None and not isinstance(own, SkippableError):
        raise own
    return _result(key, event, own, done, len(events), "written")


def _result(key: str, event: InboundEvent, error: BridgeError | None, done: BatchResult,
            size: int, status: str) -> dict[str, Any]:
    """The job's result for an event the batch went through with (``error`` None or
    skippable): written (``status``), skipped, or kept (the mapping has no rule)."""
    if isinstance(error, SkippableError):
        return {"event": key, "status": "skipped", "reason": str(error)}
    if key in done.unmapped:
        return {"event": key, "status": "kept", "reason": done.unmapped[key],
                "mapping": done.mapping}
    applied = done.applied
    person = applied.persons.get(event.openid) if applied else None
    return {"event": key, "status": status, "batch": size, "mapping": done.mapping,
            "person": person[1] if person else None,
            "person_created": bool(applied and event.openid in applied.created)}


def _fate(key: str, event: InboundEvent, error: BridgeError | None, done: BatchResult,
          size: int, owner_job: str) -> Fate:
    """How a taken job ends after the batch went through (not for a retriable error)."""
    if error is not None and not isinstance(error, SkippableError):
        return Failed(error)
    result = _result(key, event, error, done, size, "coalesced")
    if result["status"] == "coalesced":
        result["by"] = owner_job  # the job whose batch wrote it
    return Finished(result)


def _retry_fates(ctx: WorkerContext, jobs: dict[str, Job],
                 errors: dict[str, RetriableError]) -> dict[str, Fate]:
    """The fates of taken jobs after retriable failures, by ``jobs/retry.py``'s policy:
    the daily API limit pauses the queues and defers them (``jobs/pausing.py``); any
    other failure retries them after the backoff, or fails them once spent."""
    fates: dict[str, Fate] = {}
    probe_seconds: float | None = None
    for key, error in errors.items():
        if is_daily_limit(error):
            if probe_seconds is None:
                pause_for(ctx, error)
                probe_seconds = budget_of(ctx).probe_seconds
            fates[key] = deferral_fate(jobs[key], probe_seconds)
        else:
            fates[key] = retry_fate(jobs[key], error)
    return fates

"""The inbound job: one per WeChat event, coalesced into batches under load.

``handle_event`` is what the callback enqueues, once per event. It claims its own event
and other pending ones (``jobs/batching.py``) and runs them as one batch
(:func:`connector.inbound.batch.run_batch`). Its own event's outcome decides the job's:

- written (or coalesced into another job's batch): the job succeeds;
- retriable failure: the job returns an rq ``Retry`` with backoff (``jobs/retry.py``);
- fatal failure: the job raises it and lands in rq's failed registry, with a reason that
  names the Salesforce error code and fields; ``connector replay`` runs it again;
- skippable (nothing to do) or an event kind the mapping doesn't handle: the job
  succeeds; unhandled events are kept (``connector/inbound/unhandled.py``);
- its event (or its follower) is in another running job's batch: the job comes back a
  moment later (a ``Retry`` that is no failure) rather than holding its worker;
- the org's daily API limit is spent: the job waits without calling Salesforce
  (``jobs/pausing.py``);
- its work horse dies: its claims are released and rq retries it (``jobs/deaths.py``).
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
from connector.inbound.batch import run_batch
from jobs import batching
from jobs.deaths import entry_point
from jobs.pausing import hold_while_paused
from jobs.queues import INBOUND
from jobs.retry import retries_done, retry_or_give_up
from jobs.runtime import get_context

log = logging.getLogger(__name__)

# A job whose event (or whose follower) is in another job's batch looks again after these
# seconds (a batch of 200 takes a few seconds; the last step repeats until the holder ends
# or dies); it does not hold its worker meanwhile.
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
    events = _hold_followers(ctx.redis, event, claimed, owner, job)
    if events is None:  # another batch writes our follower: come back when it is done
        if job is None:
            raise RetriableError(f"follower {event.openid} of {event.account} is being "
                                 "written by another job's batch", code="FOLLOWER_BUSY")
        return _wait(job)
    return _run(ctx, event, events, owner, job)


def _hold_followers(redis: Redis, event: InboundEvent, claimed: list[str], owner: str,
                    job: Job | None) -> dict[str, InboundEvent] | None:
    """The claimed events (ours included) whose followers we now hold; None, with every
    claim dropped, when another batch holds our own event's follower. Events whose
    follower another batch holds are let go, for their own jobs. (Two batches never write
    one follower at once: a racing upsert of a new key would be refused.)"""
    key = event.dedupe_key
    events = batching.load_events(redis, claimed)
    events[key] = event
    batching.release(redis, owner, [k for k in claimed if k not in events])  # jobs gone
    busy = batching.claim_followers(redis, owner, events, job_id=job.id if job else "")
    if key in busy:
        batching.release_followers(redis, owner, events)
        batching.release(redis, owner, list(events))
        return None
    batching.release(redis, owner, sorted(busy))
    return {k: e for k, e in events.items() if k not in busy}


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
    queue_key = Queue(job.origin if job else INBOUND, connection=redis).key
    claimed = batching.claim(redis, queue_key, owner, key, job_id=job.id if job else "")
    if key in claimed:
        return claimed
    batching.release(redis, owner, claimed)
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


def _wait(job: Job) -> Retry:
    """Come back after the next of :data:`WAIT_SECONDS`; a wait is no failure (the job's
    meta counts them, and :func:`_retry` leaves them out)."""
    waits = int(job.meta.get("waits", 0))
    job.meta["waits"] = waits + 1
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
                             retries_done() - int(job.meta.get("waits", 0)))
    retry.max = max(retry.max, retried + 1)
    return retry


def _run(ctx: WorkerContext, event: InboundEvent, events: dict[str, InboundEvent],
         owner: str, job: Job | None) -> dict[str, Any] | Retry:
    """Run the claimed batch and record each event's outcome; our event's is the job's.
    The followers' hold is dropped at the end, whatever happened."""
    try:
        return _run_held(ctx, event, events, owner, job)
    finally:
        batching.release_followers(ctx.redis, owner, events)


def _run_held(ctx: WorkerContext, event: InboundEvent, events: dict[str, InboundEvent],
              owner: str, job: Job | None) -> dict[str, Any] | Retry:
    key = event.dedupe_key
    try:
        done = run_batch(ctx, events)
    except RetriableError as error:
        batching.release(ctx.redis, owner, list(events))
        return _retry(error, key, job)
    except BridgeError as error:  # the whole call was refused: every event shares the fate
        batching.mark_done(ctx.redis, dict.fromkeys(events, error))
        log.error("batch of %d failed: %s", len(events), error)
        raise
    outcomes = done.outcomes
    retry_keys = [k for k, err in outcomes.items() if isinstance(err, RetriableError)]
    batching.release(ctx.redis, owner, retry_keys)
    batching.mark_done(ctx.redis, {k: e for k, e in outcomes.items() if k not in retry_keys})
    own = outcomes.get(key)
    if isinstance(own, RetriableError):
        return _retry(own, key, job)
    if isinstance(own, SkippableError):
        return {"event": key, "status": "skipped", "reason": str(own)}
    if own is not None:
        raise own
    if key in done.unmapped:
        return {"event": key, "status": "kept", "reason": done.unmapped[key],
                "mapping": done.mapping}
    applied = done.applied
    person = applied.persons.get(event.openid) if applied else None
    return {"event": key, "status": "written", "batch": len(events), "mapping": done.mapping,
            "person": person[1] if person else None,
            "person_created": bool(applied and event.openid in applied.created)}

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
- its event is in another running job's batch: the job comes back a moment later
  (a ``Retry`` that is no failure) rather than holding its worker;
- its work horse dies: its claims are released and rq retries it (``jobs/deaths.py``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError, SkippableError
from connector.events import InboundEvent
from connector.inbound.batch import run_batch
from jobs import batching
from jobs.deaths import entry_point
from jobs.queues import INBOUND
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context

log = logging.getLogger(__name__)

# A job whose event is in another job's batch looks again after these seconds (a batch
# of 200 takes a few seconds; the last step repeats until the holder ends or dies); it
# does not hold its worker meanwhile.
WAIT_SECONDS = (1, 2, 4, 8, 15)


@entry_point
def handle_event(event_data: dict[str, Any]) -> dict[str, Any] | Retry:
    """Process one inbound event (and whatever else is pending with it).

    Raises:
        FatalError: the event cannot be written until the data or mapping changes.
        RetriableError: run outside rq, and another batch holds the event.
    """
    ctx = get_context()
    event = InboundEvent.from_dict(event_data)
    job = get_current_job()
    owner = f"{job.id if job else 'direct'}:{uuid.uuid4().hex[:8]}"
    claimed = _claim_own(ctx.redis, job, owner, event.dedupe_key)
    if not isinstance(claimed, list):
        return claimed
    return _run(ctx, event, claimed, owner, job)


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
    retry = retry_or_give_up(error, f"event {key}", retried - int(job.meta.get("waits", 0)))
    retry.max = max(retry.max, retried + 1)  # rq's count includes the waits
    return retry


def _run(ctx: WorkerContext, event: InboundEvent, claimed: list[str],
         owner: str, job: Job | None) -> dict[str, Any] | Retry:
    """Run the claimed batch and record each event's outcome; our event's is the job's."""
    key = event.dedupe_key
    events = batching.load_events(ctx.redis, claimed)
    events[key] = event
    lost = [k for k in claimed if k not in events]  # the job vanished (deleted meanwhile)
    batching.release(ctx.redis, owner, lost)
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

"""The inbound job: one per WeChat event, coalesced into batches under load.

``handle_event`` is what the callback enqueues, once per event. It claims its own event
and other pending ones (``jobs/batching.py``) and runs them as one batch
(:func:`connector.inbound.batch.run_batch`). Its own event's outcome decides the job's:

- written (or coalesced into another job's batch): the job succeeds;
- retriable failure: the job returns an rq ``Retry`` with backoff (``jobs/retry.py``);
- fatal failure: the job raises it and lands in rq's failed registry, with a reason that
  names the Salesforce error code and fields; ``connector replay`` runs it again;
- skippable (nothing to do) or an event kind the mapping doesn't handle: the job
  succeeds; unhandled events are kept (``connector/inbound/unhandled.py``).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError, SkippableError
from connector.events import InboundEvent
from connector.inbound.batch import run_batch
from jobs import batching
from jobs.pausing import hold_while_paused
from jobs.queues import INBOUND
from jobs.retry import retry_or_give_up
from jobs.runtime import get_context

log = logging.getLogger(__name__)

WAIT_STEP = 0.2
FOLLOWER_WAIT = 10.0  # seconds to wait for another batch to finish with our follower


def handle_event(event_data: dict[str, Any]) -> dict[str, Any] | Retry:
    """Process one inbound event (and whatever else is pending with it).

    Raises:
        FatalError: the event cannot be written until the data or mapping changes.
    """
    ctx = get_context()
    event = InboundEvent.from_dict(event_data)
    waiting = hold_while_paused(ctx, f"event {event.dedupe_key}")  # the daily API limit
    if waiting is not None:
        return waiting
    job = get_current_job()
    owner = f"{job.id if job else 'direct'}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + FOLLOWER_WAIT
    while True:
        try:
            claimed = _claim_own(ctx.redis, job.origin if job else INBOUND, owner,
                                 event.dedupe_key)
        except RetriableError as error:  # held past the lease by a worker that may have died
            return retry_or_give_up(error, f"event {event.dedupe_key}")
        if isinstance(claimed, dict):
            return claimed
        events = _hold_followers(ctx.redis, event, claimed, owner)
        if events is not None:
            return _run(ctx, event, events, owner)
        if time.monotonic() > deadline:
            return retry_or_give_up(RetriableError(
                f"follower {event.openid} of {event.account} is being written by another "
                "job's batch", code="FOLLOWER_BUSY"), f"event {event.dedupe_key}")
        time.sleep(WAIT_STEP)  # another batch writes our follower: wait until it is done


def _hold_followers(redis: Redis, event: InboundEvent, claimed: list[str],
                    owner: str) -> dict[str, InboundEvent] | None:
    """The claimed events (ours included) whose followers we now hold; None, with every
    claim dropped, when another batch holds our own event's follower. Events whose
    follower another batch holds are let go, for their own jobs."""
    key = event.dedupe_key
    events = batching.load_events(redis, claimed)
    events[key] = event
    batching.release(redis, owner, [k for k in claimed if k not in events])  # jobs gone
    busy = batching.claim_followers(redis, owner, events)
    if key in busy:
        batching.release_followers(redis, owner, events)
        batching.release(redis, owner, list(events))
        return None
    batching.release(redis, owner, sorted(busy))
    return {k: e for k, e in events.items() if k not in busy}


def _claim_own(redis: Redis, queue: str, owner: str, key: str) -> list[str] | dict[str, Any]:
    """Our batch (own key first), or our event's outcome if another job handled it."""
    deadline = time.monotonic() + batching.LEASE_MS / 1000
    queue_key = Queue(queue, connection=redis).key
    while True:
        claimed = batching.claim(redis, queue_key, owner, key)
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
        if time.monotonic() > deadline:
            raise RetriableError(f"event {key} is still held by another worker")
        time.sleep(WAIT_STEP)  # another job's batch has it: wait for its outcome


def _run(ctx: WorkerContext, event: InboundEvent, events: dict[str, InboundEvent],
         owner: str) -> dict[str, Any] | Retry:
    """Run the claimed batch and record each event's outcome; our event's is the job's.
    The followers' hold is dropped at the end, whatever happened."""
    try:
        return _run_held(ctx, event, events, owner)
    finally:
        batching.release_followers(ctx.redis, owner, events)


def _run_held(ctx: WorkerContext, event: InboundEvent, events: dict[str, InboundEvent],
              owner: str) -> dict[str, Any] | Retry:
    key = event.dedupe_key
    try:
        done = run_batch(ctx, events)
    except RetriableError as error:
        batching.release(ctx.redis, owner, list(events))
        return retry_or_give_up(error, f"event {key}")
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
        return retry_or_give_up(own, f"event {key}")
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

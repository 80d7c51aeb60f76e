"""The inbound job: WeChat events → Salesforce, coalesced into batches under load.

``handle_event`` is what the callback enqueues, once per event. It claims its own event
and other pending ones (``jobs/batching.py``), reads the followers' profiles (cached),
plans every event with the mapping (pure) and applies the plans together
(``connector/bridge.py``). Its own event's outcome decides the job's:

- written (or coalesced into another job's batch): the job succeeds;
- retriable failure: the job returns an rq ``Retry`` with backoff (``jobs/retry.py``);
- fatal failure: the job raises it and lands in rq's failed registry, with a reason that
  names the Salesforce error code and fields; ``connector replay`` runs it again;
- skippable (nothing to do) or an event kind the mapping doesn't handle: the job
  succeeds; unhandled events are kept in the ``bridge:unhandled`` stream.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job

from connector import touches, windows
from connector.bridge import apply_plans
from connector.errors import BridgeError, FatalError, RetriableError, SkippableError
from connector.events import InboundEvent
from connector.follower import Follower
from jobs import batching
from jobs.context import WorkerContext, get_context
from jobs.lengths import field_lengths
from jobs.messages import record_job_finish
from jobs.queues import INBOUND
from jobs.replies import reply_after_batch
from jobs.retry import MAX_RETRIES, retry_delay, with_jitter
from mappings.engine import UnmappedEvent, handles, plan_event
from mappings.plan import EventPlan

log = logging.getLogger(__name__)

UNHANDLED = "bridge:unhandled"  # a stream operators can read and replay from
UNHANDLED_MAX = 100_000
WAIT_STEP = 0.2
JOB_FINISH = ("templatesendjobfinish", "masssendjobfinish")


def handle_event(event_data: dict[str, Any]) -> dict[str, Any] | Retry:
    """Process one inbound event (and whatever else is pending with it).

    Raises:
        FatalError: the event cannot be written until the data or mapping changes.
    """
    ctx = get_context()
    event = InboundEvent.from_dict(event_data)
    job = get_current_job()
    owner = f"{job.id if job else 'direct'}:{uuid.uuid4().hex[:8]}"
    retries_done = (job.number_of_retries or 0) if job else 0
    try:
        claimed = _claim_own(ctx.redis, job.origin if job else INBOUND, owner, event.dedupe_key)
    except RetriableError as error:  # held past the lease by a worker that may have died
        return _retry_or_give_up(event.dedupe_key, error, retries_done)
    if isinstance(claimed, dict):
        return claimed
    return _run_batch(ctx, event, claimed, owner, retries_done)


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


def unknown_account(ctx: WorkerContext, event: InboundEvent) -> str | None:
    """Why ``event`` cannot be handled because no configured account is its own, or None."""
    if ctx.wechat.knows(event.account):
        return None
    return (f"WeChat account {event.account!r} is not configured (WECHAT_ORIGINAL_ID, "
            "WECHAT_ACCOUNTS): its followers' profiles cannot be read — add the account "
            "and replay the event")


def profiles_for(ctx: WorkerContext, events: list[InboundEvent], *,
                 refresh: bool = True) -> dict[str, Follower]:
    """Profiles of the followers whose events the mapping handles, each read through its
    event's account (OpenIDs are per account, so one dict holds them all); unfollows,
    kinds the mapping ignores and accounts not configured need no API call. ``refresh``
    drops cached profiles that a follow or unfollow changed (a preview leaves the cache
    alone)."""
    by_account: dict[str, list[InboundEvent]] = {}
    for event in events:
        if unknown_account(ctx, event) is None:
            by_account.setdefault(event.account, []).append(event)
    profiles: dict[str, Follower] = {}
    for account, own in by_account.items():
        gateway = ctx.wechat.for_account(account)
        gone = {e.openid for e in own if e.event == "unsubscribe"}
        fresh = {e.openid for e in own if e.event == "subscribe"}
        if refresh and gone | fresh:
            gateway.forget(*(gone | fresh))
        mapped = {e.openid for e in own if handles(ctx.mapping, e)}
        wanted = sorted(mapped - gone)
        profiles.update(gateway.get_profiles(wanted) if wanted else {})
        for openid in gone:
            profiles[openid] = Follower(openid=openid, subscribed=False)
    return profiles


def follower_of(event: InboundEvent, profiles: dict[str, Follower]) -> Follower:
    """The event's follower; without a profile (WeChat didn't know the OpenID), what the
    event itself says."""
    return profiles.get(event.openid) or Follower(
        openid=event.openid, subscribed=event.event != "unsubscribe")


def _plan_all(ctx: WorkerContext, events: dict[str, InboundEvent],
              profiles: dict[str, Follower]) -> tuple[list[EventPlan], dict[str, str]]:
    """The plans, and the events the mapping doesn't handle (key → why), to be kept."""
    plans, unmapped = [], {}
    lengths = field_lengths(ctx)
    for key, event in events.items():
        why_not = unknown_account(ctx, event)
        if why_not is not None:
            unmapped[key] = why_not
            continue
        try:
            plans.append(plan_event(event, follower_of(event, profiles), ctx.mapping, lengths))
        except UnmappedEvent as why:
            unmapped[key] = str(why)
    return plans, unmapped


def _note_acts(ctx: WorkerContext, events: dict[str, InboundEvent],
               plans: list[EventPlan]) -> dict:
    """Record what the followers did, in Redis, once per event however often it runs:
    the messaging windows their acts open, and their campaign touches (returned, for the
    CampaignMember fields).

    Raises:
        RetriableError: Redis is unreachable.
    """
    try:
        windows.record_many(ctx.redis, [(e.account, e.openid, e.rule_name, e.create_time)
                                        for e in events.values()])
        return touches.record(ctx.redis, touches.touches_of(plans, events))
    except RedisError as error:
        raise RetriableError(f"Redis: {error}", system="redis") from None


def _record_job_finish(ctx: WorkerContext, reports: list[InboundEvent]) -> None:
    """Recipient statuses from job-finish reports. A refusal Salesforce will repeat is
    logged with the reports' keys (the mapping still records the events) rather than
    failing the whole batch; a transient one retries the batch (reports count once).

    Raises:
        RetriableError: Salesforce or Redis could not be reached.
    """
    if not reports:
        return
    try:
        record_job_finish(ctx, reports)
    except FatalError as error:
        log.error("job-finish reports %s not applied to their recipients: %s",
                  ", ".join(e.dedupe_key for e in reports), error)


def _keep_unhandled(redis: Redis, event: InboundEvent, reason: str) -> None:
    redis.xadd(UNHANDLED, {"key": event.dedupe_key, "kind": event.kind, "reason": reason,
                           "event": json.dumps(event.to_dict())},
               maxlen=UNHANDLED_MAX, approximate=True)
    log.info("kept unhandled %s %s: %s", event.kind, event.dedupe_key, reason)


def _run_batch(ctx: WorkerContext, event: InboundEvent, claimed: list[str], owner: str,
               retries_done: int) -> dict[str, Any] | Retry:
    key = event.dedupe_key
    events = batching.load_events(ctx.redis, claimed)
    events[key] = event
    lost = [k for k in claimed if k not in events]  # the job vanished (deleted meanwhile)
    batching.release(ctx.redis, owner, lost)
    started = time.monotonic()
    try:
        profiles = profiles_for(ctx, list(events.values()))
        plans, unmapped = _plan_all(ctx, events, profiles)
        touched = _note_acts(ctx, events, plans)
        # Auto-replies the callback could not give go out first: WeChat's window for them
        # closes a minute after the scan, whatever Salesforce does. Never raises.
        reply_after_batch(ctx, list(events.values()))
        # Job-finish reports update the recipients of the messages they report on (each
        # report counted once), besides whatever the mapping records of them.
        _record_job_finish(ctx, [e for e in events.values() if e.rule_name in JOB_FINISH])
        result = apply_plans(ctx.salesforce, plans, touched) if plans else None
    except RetriableError as error:
        batching.release(ctx.redis, owner, list(events))
        return _retry_or_give_up(key, error, retries_done)
    except BridgeError as error:  # the whole call was refused: every event shares the fate
        batching.mark_done(ctx.redis, dict.fromkeys(events, error))
        log.error("batch of %d failed: %s", len(events), error)
        raise
    for key_kept, why in unmapped.items():  # kept once the batch went through, not per try
        _keep_unhandled(ctx.redis, events[key_kept], why)
    outcomes: dict[str, BridgeError | None] = dict.fromkeys(unmapped)
    for plan in plans:
        outcomes[plan.key] = result.errors.get(plan.key)
    retry_keys = [k for k, err in outcomes.items() if isinstance(err, RetriableError)]
    batching.release(ctx.redis, owner, retry_keys)
    batching.mark_done(ctx.redis, {k: e for k, e in outcomes.items() if k not in retry_keys})
    failed = sum(1 for e in outcomes.values() if e is not None)
    mapping = ctx.mapping.fingerprint()
    log.info(
        "batch of %d events in %.0f ms (mapping %s): %d persons created, %d members added, "
        "%d failed", len(events), (time.monotonic() - started) * 1000, mapping,
        len(result.created) if result else 0, result.members if result else 0, failed,
    )
    own = outcomes.get(key)
    if isinstance(own, RetriableError):
        return _retry_or_give_up(key, own, retries_done)
    if isinstance(own, SkippableError):
        return {"event": key, "status": "skipped", "reason": str(own)}
    if own is not None:
        raise own
    if key in unmapped:
        return {"event": key, "status": "kept", "reason": unmapped[key], "mapping": mapping}
    person = result.persons.get(event.openid) if result else None
    return {"event": key, "status": "written", "batch": len(events), "mapping": mapping,
            "person": person[1] if person else None,
            "person_created": bool(result and event.openid in result.created)}


def _retry_or_give_up(key: str, error: RetriableError, retries_done: int) -> Retry:
    delay = retry_delay(error, retries_done)
    if delay is None:
        raise FatalError(
            f"gave up after {MAX_RETRIES} retries: {error}", system=error.system,
            status=error.status, code=error.code, request_id=error.request_id,
            fields=error.fields,
        )
    delay = with_jitter(delay)
    log.warning("event %s will be retried in %d s: %s", key, delay, error)
    return Retry(max=MAX_RETRIES + 1, interval=delay)

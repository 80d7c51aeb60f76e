"""One batch of inbound events, from WeChat's pushes to Salesforce records.

:func:`run_batch` is the inbound job's work (``jobs/inbound.py`` claims the batch and
decides the job's own fate): read the followers' profiles (cached), plan every event
with the mapping (pure), note the followers' acts in Redis (messaging windows, campaign
touches), send the auto-replies the callback could not give, apply WeChat's job-finish
reports to message recipients, write the plans together (:mod:`.apply`), keep the
events the mapping does not handle (:mod:`.unhandled`), and schedule the follow-ups the
events fire (``connector.followups``). Every step is idempotent, so a
retried batch writes nothing twice and counts nothing twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from connector.context import WorkerContext
from connector.errors import BridgeError, FatalError, RetriableError
from connector.events import InboundEvent
from connector.follower import Follower
from connector.followups.schedule import after_batch as schedule_follow_ups
from connector.inbound import touches, unhandled
from connector.inbound.apply import BatchOutcome, apply_plans
from connector.inbound.lengths import field_lengths
from connector.messaging import windows
from connector.messaging.reports import record_job_finish
from connector.replies.sends import reply_after_batch
from mappings.engine import UnmappedEvent, handles, plan_event
from mappings.plan import EventPlan

log = logging.getLogger(__name__)

JOB_FINISH = ("templatesendjobfinish", "masssendjobfinish")


@dataclass
class BatchResult:
    """What a batch did. ``outcomes``: each event's failure, None when it went through
    (written, or kept); ``unmapped``: the events kept, with why; ``applied``: what the
    Salesforce writes did (None when nothing was planned); ``mapping``: the fingerprint
    of the mapping that planned them."""

    outcomes: dict[str, BridgeError | None]
    unmapped: dict[str, str]
    applied: BatchOutcome | None
    mapping: str


def run_batch(ctx: WorkerContext, events: dict[str, InboundEvent]) -> BatchResult:
    """Handle ``events`` (dedupe key → event) together.

    Raises:
        RetriableError: a step failed for every event and may succeed later.
        BridgeError: a whole call was refused: every event shares the fate.
    """
    started = time.monotonic()
    profiles = profiles_for(ctx, list(events.values()))
    plans, unmapped = plan_all(ctx, events, profiles)
    touched = note_acts(ctx, events, plans)
    # Auto-replies the callback could not give go out first: WeChat's window for them
    # closes a minute after the scan, whatever Salesforce does. Never raises.
    reply_after_batch(ctx, list(events.values()))
    # Job-finish reports update the recipients of the messages they report on (each
    # report counted once), besides whatever the mapping records of them.
    _record_job_finish(ctx, [e for e in events.values() if e.rule_name in JOB_FINISH])
    applied = apply_plans(ctx.salesforce, plans, touched) if plans else None
    for key, why in unmapped.items():  # kept once the batch went through, not per try
        unhandled.keep(ctx.redis, events[key], why)
    outcomes: dict[str, BridgeError | None] = dict.fromkeys(unmapped)
    for plan in plans:
        outcomes[plan.key] = applied.errors.get(plan.key) if applied else None
    # Follow-ups of the events that went through (a failed one schedules on its retry);
    # each is created once, however often its event comes.
    schedule_follow_ups(ctx, [events[k] for k, error in outcomes.items() if error is None])
    mapping = ctx.mapping.fingerprint()
    log.info(
        "batch of %d events in %.0f ms (mapping %s): %d persons created, %d members added, "
        "%d failed", len(events), (time.monotonic() - started) * 1000, mapping,
        len(applied.created) if applied else 0, applied.members if applied else 0,
        sum(1 for e in outcomes.values() if e is not None),
    )
    return BatchResult(outcomes, unmapped, applied, mapping)


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


def plan_all(ctx: WorkerContext, events: dict[str, InboundEvent],
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


def note_acts(ctx: WorkerContext, events: dict[str, InboundEvent],
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

"""The inbound worker's side of follow-ups: schedule what an event fires, cancel what an
unfollow makes pointless.

:func:`after_batch` runs once the batch's Salesforce writes went through, for the events
that succeeded (a failed event is retried, and schedules then). Each follow-up is created
in Redis once (:func:`connector.followups.store.schedule`), so WeChat's resends, rq's
retries and replays schedule nothing twice; its send job is enqueued through
``ctx.queues`` with the follow-up's id as job id (rq refuses a second one), for the due
time. A follow-up found pending is enqueued again, which rq refuses while its job
exists: that heals a batch that died between the two steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from redis.exceptions import RedisError

from connector.context import WorkerContext
from connector.errors import RetriableError
from connector.events import InboundEvent
from connector.followups import store
from connector.followups.rules import FollowUp, triggered

log = logging.getLogger(__name__)

UNFOLLOWED = "unfollowed: the follower left the account before it was due"


def plan(ctx: WorkerContext, events: Iterable[InboundEvent]) -> list[FollowUp]:
    """The follow-ups ``events`` fire (pure but for the mapping in ``ctx``)."""
    rules = ctx.mapping.follow_ups
    if not rules:
        return []
    found = []
    for event in events:
        prefix = ctx.mapping.for_account(event.account).campaigns.scene_prefix
        found += [FollowUp.of(rule, event) for rule in triggered(rules, event, prefix)]
    return found


def after_batch(ctx: WorkerContext, events: Iterable[InboundEvent], *,
                clock: Callable[[], float] = time.time) -> dict[str, int]:
    """Schedule the follow-ups ``events`` fire and cancel the pending ones of followers
    who unfollowed; counts of ``scheduled``, ``seen`` (scheduled before) and
    ``cancelled``.

    Raises:
        RetriableError: Redis is unreachable (the batch retries; nothing is doubled).
    """
    events = list(events)
    result = {"scheduled": 0, "seen": 0, "cancelled": 0}
    try:
        now = clock()
        for follow_up in plan(ctx, events):
            before = store.schedule(ctx.redis, follow_up, now)
            if before not in (None, "pending"):
                result["seen"] += 1
                continue
            ctx.queues.follow_up(follow_up.id, max(0.0, follow_up.due - now))
            result["scheduled" if before is None else "seen"] += 1
        # After scheduling: a click and the unfollow after it in one batch cancel too.
        for event in events:
            if event.event == "unsubscribe":
                gone = store.cancel_pending(ctx.redis, event.account, event.openid,
                                            event.create_time, UNFOLLOWED)
                result["cancelled"] += len(gone)
    except RedisError as error:
        raise RetriableError(f"Redis: {error}", system="redis") from None
    if any(result.values()):
        log.info("follow-ups: %s", result)
    return result

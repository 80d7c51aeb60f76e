"""The auto-reply the callback could not give: a customer-service message from the worker.

The callback answers a follow or scan with its campaign's reply when that is cached
(:mod:`connector.replies.passive`). When it was not, :func:`reply_after_batch` (called by the
inbound job for each batch, after the followers' windows are recorded) loads the
replies the batch needs (one query), caches them, and sends each reply as a
customer-service message — once per event, within WeChat's 1-minute window after a
follow or scan. The welcome to a follow naming no campaign is never sent here: it is a
constant the callback always gives.

Each event is answered at most once, whoever answers: its mark in Redis
(:mod:`connector.replies.cache`) is ``passive`` when the callback replied, and the worker
claims it with SET NX before sending, so resends of a push, retried jobs and concurrent
batches send nothing more. An event is skipped, with the reason logged, when it is 60 s
old or more, when the follower's window has no message left
(:func:`connector.messaging.windows.spend`), or when its account is not configured. A failed send
is logged and never fails the inbound job (the Salesforce writes are what it is for);
a retriable failure gives the claim back, so a retry of the job may still send.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from connector.context import WorkerContext
from connector.errors import BridgeError, RetriableError
from connector.events import InboundEvent
from connector.messaging import windows
from connector.replies.cache import ReplyCache
from connector.replies.campaigns import replies_for
from connector.replies.model import Reply, ReplyTarget, reply_target

log = logging.getLogger(__name__)

MAX_AGE = 60  # seconds: WeChat's customer-service window after a follow or scan


@dataclass
class RepliesSent:
    """What :func:`reply_after_batch` did: ``sent`` dedupe keys, and skipped ones by
    reason."""

    sent: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, event: InboundEvent, reason: str, *, level: int = logging.INFO) -> None:
        self.skipped[reason] += 1
        log.log(level, "no auto-reply to %s (%s): %s", event.dedupe_key, event.kind, reason)


def reply_after_batch(ctx: WorkerContext, events: list[InboundEvent], *,
                      now: float | None = None) -> RepliesSent:
    """Send the auto-replies the callback did not give to ``events`` (see the module).

    Never raises for WeChat, Salesforce or Redis failures (nor a corrupt cached reply):
    they are logged and counted in the result's ``skipped``.
    """
    out = RepliesSent()
    now = time.time() if now is None else now
    wanted: list[tuple[InboundEvent, ReplyTarget]] = []
    for event in events:
        target = reply_target(event, ctx.mapping)
        if target is None or target.welcome_only:  # the callback always gives the welcome
            continue
        if now - event.create_time >= MAX_AGE:
            out.skip(event, f"{int(now - event.create_time)} s old: WeChat allows a "
                     f"customer-service message within {MAX_AGE} s of a follow or scan")
            continue
        wanted.append((event, target))
    if not wanted:
        return out
    cache = ReplyCache(ctx.redis)
    try:
        marks = cache.answered(e.dedupe_key for e, _ in wanted)
        wanted = [(e, t) for e, t in wanted if marks[e.dedupe_key] is None]
        replies = replies_for(ctx, {t for _, t in wanted})
    except (BridgeError, RedisError, ValueError) as error:  # ValueError: a corrupt cached value
        for event, _ in wanted:
            out.skip(event, f"the replies could not be read: {error}", level=logging.WARNING)
        return out
    for event, target in wanted:
        reply = replies.get(target)
        if reply is None:
            continue  # the campaign has no reply: nothing to send, nothing to report
        try:
            _send(ctx, cache, event, reply, now, out)
        except RedisError as error:
            out.skip(event, f"Redis: {error}", level=logging.WARNING)
    if out.sent:
        log.info("sent %d auto-replies as customer-service messages", len(out.sent))
    return out


def _send(ctx: WorkerContext, cache: ReplyCache, event: InboundEvent, reply: Reply,
          now: float, out: RepliesSent) -> None:
    if not ctx.wechat.knows(event.account):
        out.skip(event, f"WeChat account {event.account!r} is not configured")
        return
    if not cache.claim(event.dedupe_key):
        return  # answered passively or by another worker meanwhile: nothing to do
    spent = windows.spend(ctx.redis, event.account, event.openid, now)
    if not spent.granted:
        out.skip(event, spent.reason or "no open window")
        return
    try:
        ctx.wechat.for_account(event.account).send_custom(event.openid,
                                                          reply.custom_message())
    except BridgeError as error:
        if isinstance(error, RetriableError):
            cache.release(event.dedupe_key)
        out.skip(event, f"WeChat refused the customer-service message: {error}",
                 level=logging.WARNING)
        return
    out.sent.append(event.dedupe_key)

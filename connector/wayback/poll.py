"""The change poll: what changed in Salesforce since the last look, per watched object.

Run by the clock (``jobs/clock.py``, every ``POLL_INTERVAL_SECONDS``) as the job
``jobs.poll.poll_changes``, or at once by ``connector sync poll``. Per watched object
(:mod:`connector.wayback.watches`) one ``queryAll`` (deleted records too)::

    SELECT Id, SystemModstamp FROM <object>
    WHERE SystemModstamp >= <watermark - POLL_LOOKBACK_SECONDS> ORDER BY SystemModstamp

SystemModstamp is set when a transaction starts, so a long one commits "in the past":
the lookback reads a window before the watermark again. What it finds twice is dropped
by a per-object sorted set of ``<id>@<SystemModstamp>`` (scored by the stamp and trimmed
to the window), so a record is enqueued once per change. The found ids go to change
jobs (``ctx.queues.changes``) in batches of ``way_back.batch_size``; the watermark (the
newest stamp seen) is advanced only after they are enqueued, so a poll that fails half
way loses nothing: the next one reads the same window. The first poll of an object starts
at the clock's now minus the lookback (history is not replayed).

Redis keys (``bridge:changes:`` prefix): ``watermark:<object>`` (Salesforce's own form of
the stamp), ``seen:<object>``, ``polls`` (a hash: object → the last poll's figures),
``poll:lock`` (one poll at a time).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis

from connector.context import WorkerContext
from connector.locks import holding
from connector.wayback import counters
from connector.wayback.watches import watched_objects

log = logging.getLogger(__name__)

PREFIX = "bridge:changes:"
POLLS = PREFIX + "polls"
LOCK = PREFIX + "poll:lock"
LOCK_SECONDS = 300  # a poll that takes longer than this is dead; another may start


def parse_stamp(text: str) -> datetime:
    """A SystemModstamp as Salesforce answers it (``2024-05-01T08:00:00.000+0000``)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def poll(ctx: WorkerContext, *, now: datetime | None = None) -> dict[str, Any]:
    """Poll every watched object; each object's summary, by name. A poll already running
    (another worker) makes this one do nothing.

    Raises:
        RetriableError, FatalError: Salesforce failed (watermarks of the objects polled
            before stay advanced; the failing object's is unchanged).
    """
    with holding(ctx.redis, LOCK, ttl=LOCK_SECONDS) as held:
        if not held:
            log.info("a change poll is already running; this one skips")
            return {"status": "skipped: another poll is running"}
        batch = ctx.mapping.way_back.batch_size
        return {obj: poll_object(ctx, obj, batch=batch, now=now)
                for obj in watched_objects(ctx)}


def poll_object(ctx: WorkerContext, obj: str, *, batch: int = 200,
                now: datetime | None = None) -> dict[str, Any]:
    """Find the changes of one object since its watermark (minus the lookback) and
    enqueue the new ones."""
    redis = ctx.redis
    lookback = timedelta(seconds=ctx.settings.POLL_LOOKBACK_SECONDS)
    mark = watermark(redis, obj)
    since = (parse_stamp(mark) if mark else (now or datetime.now(UTC))) - lookback
    started = time.monotonic()
    rows = ctx.salesforce.query(
        "SELECT Id, SystemModstamp FROM {:literal} WHERE SystemModstamp >= {since} "
        "ORDER BY SystemModstamp", obj, since=since, include_deleted=True)
    members = [f"{r['Id']}@{r['SystemModstamp']}" for r in rows]
    seen_key = f"{PREFIX}seen:{obj}"
    with redis.pipeline(transaction=False) as pipe:
        for member in members:
            pipe.zscore(seen_key, member)
        scores = pipe.execute() if members else []
    new = [(row, member) for row, member, score in zip(rows, members, scores, strict=True)
           if score is None]
    jobs = []
    if new:
        key = f"{new[0][1]}..{new[-1][1]}"
        jobs = ctx.queues.changes(obj, [row["Id"] for row, _ in new], origin="poll",
                                  key=key, batch=batch)
    newest = rows[-1]["SystemModstamp"] if rows else mark
    with redis.pipeline(transaction=False) as pipe:
        if new:
            pipe.zadd(seen_key, {m: parse_stamp(r["SystemModstamp"]).timestamp()
                                 for r, m in new})
        # what the next window can no longer see need not be remembered
        pipe.zremrangebyscore(seen_key, "-inf", f"({since.timestamp() - 1}")
        pipe.expire(seen_key, int(lookback.total_seconds()) + 86_400)
        if newest and newest != mark:
            pipe.set(f"{PREFIX}watermark:{obj}", newest)
        summary = {"at": round(time.time(), 3), "found": len(rows), "new": len(new),
                   "jobs": len(jobs), "watermark": newest,
                   "ms": round((time.monotonic() - started) * 1000)}
        pipe.hset(POLLS, obj, json.dumps(summary))
        pipe.execute()
    counters.count(redis, polled=len(new))
    if new:
        log.info("poll of %s: %d changed records, %d jobs, watermark %s", obj, len(new),
                 len(jobs), newest)
    return summary


def watermark(redis: Redis, obj: str) -> str | None:
    """The newest SystemModstamp the poll has handled for ``obj``."""
    value = redis.get(f"{PREFIX}watermark:{obj}")
    return value.decode() if value else None


def last_polls(redis: Redis) -> dict[str, dict[str, Any]]:
    """The last poll's figures per object (``at``, ``found``, ``new``, ``jobs``,
    ``watermark``, ``ms``)."""
    return {k.decode(): json.loads(v) for k, v in redis.hgetall(POLLS).items()}

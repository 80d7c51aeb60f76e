"""Follow-ups in Redis: each one's state, the pending ones per follower, and a list by
due time for operators (``connector followups list``).

A follow-up (``bridge:followup:<id>``, a hash kept :data:`KEEP_SECONDS`) is created once
(:func:`schedule` is atomic and does nothing when it exists: a resend or a replay of its
event finds it), then moves ``pending`` → ``sending`` → ``sent`` | ``skipped`` |
``failed``, or ``pending`` → ``cancelled``, each end with its reason. ``sending`` is
claimed atomically just before WeChat is called, so two runs never both send; a
``sending`` found later means a run died mid-call (:mod:`.send` never resends it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis import Redis

from connector.followups.rules import FollowUp

KEEP_SECONDS = 30 * 86_400  # longer than any delay (7 days), retry or replay
INDEX = "bridge:followups"  # sorted set: id by due time
ENDS = ("sent", "skipped", "failed", "cancelled")

# KEYS: hash, index, follower's pending set. ARGV: ttl, due, id, now, then field/value
# pairs. Returns the status the follow-up had (nil: created now).
_SCHEDULE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status then return status end
redis.call('HSET', KEYS[1], 'status', 'pending', 'created', ARGV[4], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4] - ARGV[1])  -- long expired
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return false
"""

# KEYS: hash. ARGV: from-status, to-status, now, reason. Moves only from from-status.
_MOVE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= ARGV[1] then return status or false end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3], 'reason', ARGV[4])
return 'moved'
"""


def _key(follow_up_id: str) -> str:
    return f"bridge:followup:{follow_up_id}"


def _pending_key(account: str, openid: str) -> str:
    return f"bridge:followups:pending:{account}:{openid}"


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class State:
    """A follow-up as Redis holds it (every field as text)."""

    id: str
    fields: dict[str, str]

    @property
    def status(self) -> str:
        return self.fields.get("status", "")

    def __getitem__(self, name: str) -> str:
        return self.fields.get(name, "")


def schedule(redis: Redis, follow_up: FollowUp, now: float | None = None) -> str | None:
    """Create ``follow_up`` as pending unless it exists; None when created now, else the
    status it has (its event was seen before).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    pairs = [str(x) for item in follow_up.as_fields().items() for x in item]
    status = redis.eval(_SCHEDULE, 3, _key(follow_up.id), INDEX,
                        _pending_key(follow_up.account, follow_up.openid), KEEP_SECONDS,
                        follow_up.due, follow_up.id, int(now or time.time()), *pairs)
    return _text(status) if status else None


def read(redis: Redis, follow_up_id: str) -> State | None:
    """The follow-up's state, or None (never scheduled, or expired)."""
    raw = redis.hgetall(_key(follow_up_id))
    return State(follow_up_id, {_text(k): _text(v) for k, v in raw.items()}) if raw else None


def move(redis: Redis, follow_up_id: str, from_status: str, to_status: str,
         reason: str = "", now: float | None = None) -> bool:
    """Move the follow-up from ``from_status`` to ``to_status`` (with ``reason``), only
    if it is in ``from_status`` now; whether it moved. Leaving ``pending`` drops it from
    its follower's pending set."""
    moved = redis.eval(_MOVE, 1, _key(follow_up_id), from_status, to_status,
                       int(now or time.time()), reason)
    if _text(moved) != "moved":
        return False
    if from_status == "pending":
        state = read(redis, follow_up_id)
        if state is not None:
            redis.srem(_pending_key(state["account"], state["openid"]), follow_up_id)
    return True


def note(redis: Redis, follow_up_id: str, **fields: str | int) -> None:
    """Add ``fields`` (channel, msg id, the message record's Id...) to the follow-up."""
    if fields:
        redis.hset(_key(follow_up_id), mapping={k: str(v) for k, v in fields.items()})


def cancel_pending(redis: Redis, account: str, openid: str, before: int,
                   reason: str) -> list[str]:
    """Cancel the follower's pending follow-ups triggered at or before ``before`` (unix
    seconds: an unfollow cancels what came before it, not a later follow's); their ids.
    The send job finds them cancelled and sends nothing.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    cancelled = []
    for raw in redis.smembers(_pending_key(account, openid)):
        follow_up_id = _text(raw)
        state = read(redis, follow_up_id)
        if state is None:
            redis.srem(_pending_key(account, openid), follow_up_id)
        elif int(state["at"] or 0) <= before and move(redis, follow_up_id, "pending",
                                                      "cancelled", reason):
            cancelled.append(follow_up_id)
    return cancelled


def listing(redis: Redis, *, limit: int = 50, status: str | None = None) -> list[State]:
    """The latest follow-ups by due time, newest first, optionally of one ``status``;
    ids whose state expired are dropped from the index on the way."""
    states: list[State] = []
    for raw in redis.zrevrange(INDEX, 0, -1):
        follow_up_id = _text(raw)
        state = read(redis, follow_up_id)
        if state is None:
            redis.zrem(INDEX, follow_up_id)
            continue
        if status is None or state.status == status:
            states.append(state)
            if len(states) >= limit:
                break
    return states


def counts(redis: Redis, page: int = 1000) -> dict[str, int]:
    """Follow-ups kept per status (their statuses read a page per round trip)."""
    result: dict[str, int] = {}
    ids = redis.zrange(INDEX, 0, -1)
    for start in range(0, len(ids), page):
        pipe = redis.pipeline(transaction=False)
        for raw in ids[start:start + page]:
            pipe.hget(_key(_text(raw)), "status")
        for status in pipe.execute():
            if status is not None:
                result[_text(status)] = result.get(_text(status), 0) + 1
    return result

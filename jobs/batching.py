"""Coalescing: one job processes up to 200 pending events in one Salesforce batch.

Every event has its own RQ job (its dedupe key is the job id). Beside the job, the
enqueuer records the event in a pending set. A job *claims* its own event plus the
oldest other pending ones (atomically, in Lua), so under a burst the first job takes a
large batch and the jobs of the events it took later find them done and finish at once.

Keys (``bridge:inbound:`` prefix):
    pending          ZSET of dedupe keys, scored by arrival time (ms)
    event:<key>      the event as JSON (expires after a day)
    claim:<key>      the id of the job processing the event now (a lease)
    done:<key>       the outcome: {"ok": true} or {"ok": false, "error": {...}}
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from redis import Redis

import connector.errors as errors_module
from connector.errors import BridgeError
from connector.events import InboundEvent

PREFIX = "bridge:inbound:"
PENDING = PREFIX + "pending"
BATCH_LIMIT = 200  # sObject Collections take at most 200 records per call
LEASE_MS = 120_000  # a claim outlives any healthy batch; a dead worker's claim expires
KEEP_SECONDS = 24 * 3600

_CLAIM = """
local prefix, owner, lease, limit, own = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local claimed = {}
local function try(k)
  if redis.call('EXISTS', prefix .. 'done:' .. k) == 1 then
    redis.call('ZREM', KEYS[1], k)
    return
  end
  if redis.call('SET', prefix .. 'claim:' .. k, owner, 'NX', 'PX', lease) then
    redis.call('ZREM', KEYS[1], k)
    table.insert(claimed, k)
  end
end
if own ~= '' then try(own) end
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, limit * 2)) do
  if #claimed >= limit then break end
  if k ~= own then try(k) end
end
return claimed
"""

_RELEASE = """
local prefix, owner, requeue, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
for i = 5, #ARGV do
  local k = ARGV[i]
  if redis.call('GET', prefix .. 'claim:' .. k) == owner then
    redis.call('DEL', prefix .. 'claim:' .. k)
    if requeue == '1' then redis.call('ZADD', KEYS[1], now, k) end
  end
end
return 1
"""


def record_pending(redis: Redis, event: InboundEvent) -> None:
    """Make ``event`` claimable by any job's batch (called right after enqueueing)."""
    key = event.dedupe_key
    with redis.pipeline(transaction=False) as pipe:
        pipe.set(PREFIX + "event:" + key, json.dumps(event.to_dict()), ex=KEEP_SECONDS)
        pipe.zadd(PENDING, {key: int(time.time() * 1000)}, nx=True)
        pipe.execute()


def claim(redis: Redis, owner: str, own_key: str, limit: int = BATCH_LIMIT) -> list[str]:
    """Claim ``own_key`` (if free) and up to ``limit`` pending keys in all, oldest first."""
    keys = redis.eval(_CLAIM, 1, PENDING, PREFIX, owner, LEASE_MS, limit, own_key)
    return [k.decode() if isinstance(k, bytes) else k for k in keys]


def release(redis: Redis, owner: str, keys: list[str], *, requeue: bool) -> None:
    """Drop our claims on ``keys``; with ``requeue`` they become pending again."""
    if keys:
        redis.eval(_RELEASE, 1, PENDING, PREFIX, owner, "1" if requeue else "0",
                   int(time.time() * 1000), *keys)


def load_events(redis: Redis, keys: list[str]) -> dict[str, InboundEvent]:
    """The stored events for ``keys``; keys whose event expired are left out."""
    if not keys:
        return {}
    raw = redis.mget([PREFIX + "event:" + k for k in keys])
    return {k: InboundEvent.from_dict(json.loads(v)) for k, v in zip(keys, raw, strict=True) if v}


def mark_done(redis: Redis, outcomes: dict[str, BridgeError | None]) -> None:
    """Record each key's outcome (None = success) and drop its claim."""
    if not outcomes:
        return
    with redis.pipeline(transaction=False) as pipe:
        for key, error in outcomes.items():
            value = {"ok": True} if error is None else {"ok": False, "error": dump_error(error)}
            pipe.set(PREFIX + "done:" + key, json.dumps(value), ex=KEEP_SECONDS)
            pipe.delete(PREFIX + "claim:" + key)
        pipe.execute()


def outcome(redis: Redis, key: str) -> tuple[str, BridgeError | None]:
    """("done", None) | ("failed", error) | ("claimed", None) | ("free", None)."""
    done, claimed = redis.mget(PREFIX + "done:" + key, PREFIX + "claim:" + key)
    if done:
        data = json.loads(done)
        return ("done", None) if data["ok"] else ("failed", load_error(data["error"]))
    return ("claimed", None) if claimed else ("free", None)


def forget(redis: Redis, key: str) -> None:
    """Clear a key's outcome and claim, so a replayed job processes it afresh."""
    redis.delete(PREFIX + "done:" + key, PREFIX + "claim:" + key)


def dump_error(error: BridgeError) -> dict:
    return {"class": type(error).__name__, **asdict(error)}


def load_error(data: dict) -> BridgeError:
    data = dict(data)
    cls = getattr(errors_module, data.pop("class", "BridgeError"), BridgeError)
    if not (isinstance(cls, type) and issubclass(cls, BridgeError)):
        cls = BridgeError
    return cls(**data)

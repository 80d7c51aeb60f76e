"""Coalescing: one job processes up to 200 pending events in one Salesforce batch.

Every event has its own RQ job, whose id is the event's dedupe key, so the events
waiting to be processed are exactly the job ids in RQ's queue list. A running job
*claims* its own event plus the oldest waiting ones (atomically, in Lua), so under a
burst the first job takes a large batch, and the jobs of the events it took later find
them done and finish at once. The web process does nothing beyond RQ's own enqueue.

Events are claimed per follower too: two events of one follower in two jobs' batches
would write the same person at once (both deciding to create it, one refused). A batch
holds its followers (``follower:`` keys, leases like the claims, taken with
``connector/follower_holds.py``, which the backfill shares); an event whose follower
another batch holds is left to its own job, which waits for the follower to be free.

Keys (``bridge:inbound:`` prefix):
    claim:<key>      the owner (job id and a nonce) processing the event now (a lease)
    follower:<account>:<openid>   the owner of the batch writing that follower now (a lease)
    done:<key>       the outcome: {"ok": true} or {"ok": false, "error": {...}}
    held:<job id>    what that job claimed (a hash: key → owner), so that when its work
                     horse dies the worker releases them at once (:func:`release_job`,
                     ``jobs/deaths.py``) instead of leaving them for the lease to expire
"""

from __future__ import annotations

import json
from dataclasses import asdict

from redis import Redis
from rq.job import Job

import connector.errors as errors_module
from connector.errors import BridgeError
from connector.events import InboundEvent
from connector.follower_holds import (  # noqa: F401 - the inbound job's names for them
    claim_followers,
    follower_key,
    release_followers,
)
from connector.locks import release_owned

PREFIX = "bridge:inbound:"
BATCH_LIMIT = 200  # sObject Collections take at most 200 records per call
LEASE_MS = 120_000  # a claim outlives any healthy batch; a dead worker's claim expires
KEEP_SECONDS = 24 * 3600

_CLAIM = """
local prefix, owner, lease, limit, own = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local held = ARGV[6]
local claimed = {}
local function try(k)
  if redis.call('EXISTS', prefix .. 'done:' .. k) == 0
      and redis.call('SET', prefix .. 'claim:' .. k, owner, 'NX', 'PX', lease) then
    table.insert(claimed, k)
    if held ~= '' then redis.call('HSET', prefix .. 'held:' .. held, k, owner) end
  end
end
if own ~= '' then try(own) end
-- the oldest waiting jobs: RQ pushes on the right and pops from the left
for _, k in ipairs(redis.call('LRANGE', KEYS[1], 0, limit * 2)) do
  if #claimed >= limit then break end
  if k ~= own then try(k) end
end
if held ~= '' and #claimed > 0 then redis.call('PEXPIRE', prefix .. 'held:' .. held, lease) end
return claimed
"""

# KEYS[1]: held:<job id>. Drops the claims (and follower holds, whose fields start with
# ``follower:``) that still hold that job's owner values; answers the claims dropped.
_RELEASE_JOB = """
local entries = redis.call('HGETALL', KEYS[1])
local dropped = 0
for i = 1, #entries, 2 do
  local name = entries[i]
  local event = string.sub(name, 1, 9) ~= 'follower:'
  if event then name = 'claim:' .. name end
  local key = ARGV[1] .. name
  if redis.call('GET', key) == entries[i + 1] then
    redis.call('DEL', key)
    if event then dropped = dropped + 1 end
  end
end
redis.call('DEL', KEYS[1])
return dropped
"""


def claim(redis: Redis, queue_key: str, owner: str, own_key: str,
          limit: int = BATCH_LIMIT, *, job_id: str = "") -> list[str]:
    """Claim ``own_key`` (if free) and waiting jobs' events from ``queue_key``, oldest
    first, up to ``limit`` in all. Events with a recorded outcome are never claimed.
    With ``job_id``, the claims are noted as that job's (:func:`release_job`)."""
    keys = redis.eval(_CLAIM, 1, queue_key, PREFIX, owner, LEASE_MS, limit, own_key,
                      job_id)
    return [k.decode() if isinstance(k, bytes) else k for k in keys]


def release_job(redis: Redis, job_id: str) -> int:
    """Drop every claim the job ``job_id`` still holds (its work horse died, or it
    raised): their own jobs process those events. Claims that changed hands since (done,
    released, expired and claimed again) are left alone. Returns how many were dropped."""
    return int(redis.eval(_RELEASE_JOB, 1, PREFIX + "held:" + job_id, PREFIX))


def release(redis: Redis, owner: str, keys: list[str]) -> None:
    """Drop our claims on ``keys``: their own jobs (still queued) will process them."""
    release_owned(redis, owner, [PREFIX + "claim:" + key for key in keys])


def load_events(redis: Redis, keys: list[str]) -> dict[str, InboundEvent]:
    """The events of the jobs ``keys``; jobs that no longer exist are left out."""
    jobs = Job.fetch_many(keys, connection=redis) if keys else []
    return {k: InboundEvent.from_dict(job.args[0])
            for k, job in zip(keys, jobs, strict=True) if job is not None and job.args}


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

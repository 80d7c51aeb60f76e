"""Coalescing: one job processes up to 1,000 pending events in one Salesforce batch.

Every event has its own RQ job, whose id is the event's dedupe key, so the events
waiting to be processed are exactly the job ids in RQ's queue list. A running job
*claims* its own event plus the oldest waiting ones (atomically, in Lua) and *takes*
their jobs: it removes them from the queue list, so no worker dequeues them (no fork, no
wait), and notes them in ``taken`` until it completes them in rq itself (finished,
failed, or scheduled for a retry: ``jobs/taken.py``), in one transaction with their
outcomes. So under a burst the first job takes a large batch and the other events cost
no job run at all. The web process does nothing beyond RQ's own enqueue. During a burst
(events were waiting) a batch *gathers* the events that arrive in the next second
before it runs (:func:`gather`), so two workers do not split a burst into many small
batches that each cost the same few Salesforce calls. While a batch runs, its owner
renews its leases (:func:`renewing`), so however long it takes, no other job claims its
events.

A taken job is never lost: if its owner dies or lets it go, the release (Lua, atomic)
puts it back at the front of its queue; if the owner's whole worker died and its lease
lapsed, a worker's maintenance sweeps it back (:func:`sweep`).

Events are claimed per follower too: two events of one follower in two jobs' batches
would write the same person at once (both deciding to create it, one refused). A batch
holds its followers (``follower:`` keys, leases like the claims, taken with
``connector/follower_holds.py``, which the backfill shares); an event whose follower
another batch holds is scheduled to look again a moment later.

Keys (``bridge:inbound:`` prefix):
    claim:<key>      the owner (job id and a nonce) processing the event now (a lease)
    follower:<account>:<openid>   the owner of the batch writing that follower now (a lease)
    done:<key>       the outcome: {"ok": true} or {"ok": false, "error": {...}}
    held:<job id>    what that job claimed (a hash: key → owner; ``taken:<key>`` → the
                     queue key its job was taken from), so that when its work horse dies
                     the worker releases them at once (:func:`release_job`,
                     ``jobs/deaths.py``) instead of leaving them for the lease to expire
    taken            a sorted set: the jobs taken into batches and not yet completed,
                     scored by when (ms); ``connector status`` counts them "in batches"
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq.job import Job

import connector.errors as errors_module
from connector.errors import BridgeError
from connector.events import InboundEvent
from connector.follower_holds import (  # noqa: F401 - the inbound job's names for them
    claim_followers,
    follower_key,
    release_followers,
)

log = logging.getLogger(__name__)

PREFIX = "bridge:inbound:"
# Events per batch. Its writes go 200 records to an sObject Collections request and five
# requests to a Composite call, and its lookups five queries to a call
# (connector/inbound/apply.py), so a batch of 1,000 costs about the calls of one of 200
# (benchmarks/event_hall.py: 0.034 calls per event with batches of 200 and a call per
# request or query, README "Measured").
BATCH_LIMIT = 1000
LEASE_MS = 120_000  # a claim outlives its batch (renewed while it runs); a dead one expires
RENEW_SECONDS = LEASE_MS / 1000 / 4  # how often a running batch renews its leases
# A burst: events were waiting when the job claimed (it took more than its own). The
# batch then goes on claiming what arrives, every GATHER_STEP seconds, for at most
# GATHER_SECONDS, while each look finds more: under a burst a batch's lookups and calls
# are shared by more events (two workers would otherwise split the arrivals into small
# batches of the same few calls each); a quiet event (nothing waiting) goes at once.
GATHER_SECONDS = 1.0
GATHER_STEP = 0.2
KEEP_SECONDS = 24 * 3600

_CLAIM = """
local prefix, owner, lease, limit, own = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local held = ARGV[6]
local claimed = {}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function try(k)
  if redis.call('EXISTS', prefix .. 'done:' .. k) == 0
      and redis.call('SET', prefix .. 'claim:' .. k, owner, 'NX', 'PX', lease) then
    table.insert(claimed, k)
    if held ~= '' then redis.call('HSET', prefix .. 'held:' .. held, k, owner) end
    return true
  end
  return false
end
if own ~= '' then try(own) end
-- the oldest waiting jobs: RQ pushes on the right and pops from the left. Each one
-- claimed is taken off the queue (its job is completed by this batch's owner): marked
-- in place, then the marks removed in one pass over the head of the list (an LREM per
-- job would scan the list once per job).
local mark = prefix .. 'taking:' .. owner
local taken = 0
for i, k in ipairs(redis.call('LRANGE', KEYS[1], 0, limit * 2)) do
  if #claimed >= limit then break end
  if k ~= own and try(k) then
    redis.call('LSET', KEYS[1], i - 1, mark)
    taken = taken + 1
    redis.call('ZADD', KEYS[2], now, k)
    if held ~= '' then redis.call('HSET', prefix .. 'held:' .. held, 'taken:' .. k, KEYS[1]) end
  end
end
if taken > 0 then redis.call('LREM', KEYS[1], taken, mark) end
if held ~= '' and #claimed > 0 then redis.call('PEXPIRE', prefix .. 'held:' .. held, lease) end
return claimed
"""

# Gives a dropped claim's taken job back: to the front of the queue it was taken from
# (ARGV[1] = '1'), or just forgets it (its job is gone). Needs ``held`` and ``taken``.
_GIVE_BACK = """
local function give_back(k, requeue)
  local queue = redis.call('HGET', held, 'taken:' .. k)
  if queue then
    if requeue == '1' then redis.call('LPUSH', queue, k) end
    redis.call('ZREM', taken, k)
    redis.call('HDEL', held, 'taken:' .. k)
  end
end
"""

# KEYS[1]: held:<job id>, KEYS[2]: taken. Drops the claims (and follower holds, whose
# fields start with ``follower:``) that still hold that job's owner values, giving their
# taken jobs back to their queues; answers the claims dropped.
_RELEASE_JOB = """
local held, taken = KEYS[1], KEYS[2]
""" + _GIVE_BACK + """
local entries = redis.call('HGETALL', held)
local dropped = 0
for i = 1, #entries, 2 do
  local name = entries[i]
  if string.sub(name, 1, 6) ~= 'taken:' then
    local event = string.sub(name, 1, 9) ~= 'follower:'
    local key = ARGV[1] .. (event and ('claim:' .. name) or name)
    if redis.call('GET', key) == entries[i + 1] then
      redis.call('DEL', key)
      if event then
        dropped = dropped + 1
        give_back(name, '1')
      end
    end
  end
end
redis.call('DEL', held)
return dropped
"""

# KEYS[1]: held:<job id> (or a key that does not exist), KEYS[2]: taken; ARGV: prefix,
# owner, '1' to requeue taken jobs (or '0' to forget them), the event keys. Drops the
# owner's claims on those keys, and gives their taken jobs back.
_RELEASE_KEYS = """
local held, taken = KEYS[1], KEYS[2]
""" + _GIVE_BACK + """
for i = 4, #ARGV do
  local k = ARGV[i]
  if redis.call('GET', ARGV[1] .. 'claim:' .. k) == ARGV[2] then
    redis.call('DEL', ARGV[1] .. 'claim:' .. k)
    redis.call('HDEL', held, k)
    give_back(k, ARGV[3])
  end
end
return 0
"""

# KEYS[1]: taken, KEYS[2]: the job's claim key, KEYS[3]: the job's rq hash; ARGV: the job
# id, rq's queue key prefix, the oldest score (ms) an orphan may have. Puts the job back
# on its queue when nobody holds it, it is still queued in rq, and it is not there yet.
_SWEEP_ONE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[3]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local status = redis.call('HGET', KEYS[3], 'status')
local origin = redis.call('HGET', KEYS[3], 'origin')
redis.call('ZREM', KEYS[1], ARGV[1])
if status ~= 'queued' or not origin then return 0 end
local queue = ARGV[2] .. origin
if redis.call('LPOS', queue, ARGV[1]) then return 0 end
redis.call('LPUSH', queue, ARGV[1])
return 1
"""

# KEYS[1]: held:<job id>; ARGV: prefix, owner, lease. Extends the claims and follower
# holds noted there that still hold the owner's value, and the note.
_RENEW = """
local entries = redis.call('HGETALL', KEYS[1])
local renewed = 0
for i = 1, #entries, 2 do
  local name = entries[i]
  if string.sub(name, 1, 6) ~= 'taken:' and entries[i + 1] == ARGV[2] then
    local key = ARGV[1] .. (string.sub(name, 1, 9) == 'follower:' and name or ('claim:' .. name))
    if redis.call('GET', key) == ARGV[2] then
      redis.call('PEXPIRE', key, ARGV[3])
      renewed = renewed + 1
    end
  end
end
if renewed > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return renewed
"""

TAKEN = PREFIX + "taken"


def claim(redis: Redis, queue_key: str, owner: str, own_key: str,
          limit: int = BATCH_LIMIT, *, job_id: str = "") -> list[str]:
    """Claim ``own_key`` (if free) and waiting jobs' events from ``queue_key``, oldest
    first, up to ``limit`` in all; the jobs of the waiting ones are *taken* (off the
    queue, into :data:`TAKEN`): the caller completes them (``jobs/taken.py``) or
    releases them. Events with a recorded outcome are never claimed. With ``job_id``,
    the claims are noted as that job's (:func:`release_job`)."""
    keys = redis.eval(_CLAIM, 2, queue_key, TAKEN, PREFIX, owner, LEASE_MS, limit,
                      own_key, job_id)
    return [k.decode() if isinstance(k, bytes) else k for k in keys]


def gather(redis: Redis, queue_key: str, owner: str, claimed: list[str], *,
           job_id: str = "", limit: int = BATCH_LIMIT, seconds: float = GATHER_SECONDS,
           step: float = GATHER_STEP, sleep: Callable[[float], None] = time.sleep
           ) -> list[str]:
    """``claimed`` and, when it shows a burst (more than the job's own event), the
    events that arrive meanwhile, claimed (and their jobs taken) as :func:`claim` does:
    a look every ``step`` seconds for at most ``seconds``, until one finds nothing or
    the batch holds ``limit``."""
    claimed = list(claimed)
    if len(claimed) < 2:
        return claimed
    deadline = time.monotonic() + seconds
    while len(claimed) < limit and time.monotonic() + step <= deadline:
        sleep(step)
        more = claim(redis, queue_key, owner, "", limit - len(claimed), job_id=job_id)
        if not more:
            break
        claimed += more
    return claimed


def renew(redis: Redis, job_id: str, owner: str) -> int:
    """Extend by a lease the claims and follower holds ``owner`` still has among those
    noted in ``held:<job_id>``, and the note itself; how many were extended."""
    return int(redis.eval(_RENEW, 1, held_key(job_id), PREFIX, owner, LEASE_MS))


@contextmanager
def renewing(redis: Redis, job_id: str, owner: str,
             every: float = RENEW_SECONDS) -> Iterator[None]:
    """Renew the leases of ``owner``'s batch (:func:`renew`) every ``every`` seconds, in
    a thread, while the block runs: a batch slowed down (Salesforce's retries, a large
    burst) never outlives its claims, so no second batch takes its events meanwhile.
    The thread dies with the process: a dead owner's leases still lapse (and rq's job
    timeout, above a lease, ends a hung one, ``jobs/deaths.py``)."""
    done = threading.Event()

    def run() -> None:
        while not done.wait(every):
            try:
                renew(redis, job_id, owner)
            except RedisError as error:  # the lease runs on; the next turn tries again
                log.warning("renewing the batch's leases failed: %s", error)

    thread = threading.Thread(target=run, name="lease-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def release_job(redis: Redis, job_id: str) -> int:
    """Drop every claim the job ``job_id`` still holds (its work horse died, or it
    raised): the jobs it took go back to the front of their queue, atomically, and
    process those events themselves. Claims that changed hands since (done, released,
    expired and claimed again) are left alone. Returns how many were dropped."""
    return int(redis.eval(_RELEASE_JOB, 2, held_key(job_id), TAKEN, PREFIX))


def release(redis: Redis, owner: str, keys: list[str], *, job_id: str = "",
            requeue: bool = True) -> None:
    """Drop our claims on ``keys``: their own jobs will process them; those the job
    ``job_id`` took go back to the front of their queue (or, ``requeue`` False, whose
    jobs are gone, are just forgotten)."""
    if keys:
        redis.eval(_RELEASE_KEYS, 2, held_key(job_id), TAKEN, PREFIX, owner,
                   "1" if requeue else "0", *keys)


def held_key(job_id: str) -> str:
    """The hash of what ``job_id`` claimed (the prefix alone, never a hash, for none)."""
    return PREFIX + "held:" + job_id if job_id else PREFIX + "held:-"


def sweep(redis: Redis, queue_prefix: str, limit: int = 1000) -> int:
    """Put back on their queues the taken jobs nobody completes: taken longer than a
    lease ago, their claim gone (its owner died with its worker, and the lease lapsed),
    still queued in rq. Safe with many workers at once (each move is atomic and
    idempotent). Returns how many went back."""
    seconds, micros = redis.time()  # the clock the claims' scores were taken with
    oldest = seconds * 1000 + micros // 1000 - LEASE_MS
    ids = redis.zrangebyscore(TAKEN, "-inf", oldest, start=0, num=limit)
    moved = 0
    for raw in ids:
        job_id = raw.decode() if isinstance(raw, bytes) else raw
        moved += int(redis.eval(_SWEEP_ONE, 3, TAKEN, PREFIX + "claim:" + job_id,
                                Job.key_for(job_id), job_id, queue_prefix, oldest))
    return moved


def in_batches(redis: Redis) -> int:
    """How many jobs batches took and have not completed yet."""
    return int(redis.zcard(TAKEN))


def load_jobs(redis: Redis, keys: list[str]) -> dict[str, Job]:
    """The jobs ``keys`` that still exist and carry an event."""
    jobs = Job.fetch_many(keys, connection=redis) if keys else []
    return {k: job for k, job in zip(keys, jobs, strict=True)
            if job is not None and job.args}


def load_events(redis: Redis, keys: list[str]) -> dict[str, InboundEvent]:
    """The events of the jobs ``keys``; jobs that no longer exist are left out."""
    return {k: InboundEvent.from_dict(job.args[0])
            for k, job in load_jobs(redis, keys).items()}


def mark_done(redis: Redis, outcomes: dict[str, BridgeError | None],
              pipe: Pipeline | None = None) -> None:
    """Record each key's outcome (None = success) and drop its claim (in ``pipe``, to be
    executed by the caller, when given)."""
    if not outcomes:
        return
    if pipe is None:
        with redis.pipeline(transaction=False) as own:
            mark_done(redis, outcomes, own)
            own.execute()
        return
    for key, error in outcomes.items():
        value = {"ok": True} if error is None else {"ok": False, "error": dump_error(error)}
        pipe.set(PREFIX + "done:" + key, json.dumps(value), ex=KEEP_SECONDS)
        pipe.delete(PREFIX + "claim:" + key)


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

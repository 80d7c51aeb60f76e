"""Follower holds: one writer of a follower's Salesforce records at a time.

Two batches writing one follower at once would both decide to create its person (one
refused by the external id's uniqueness, or two Leads where nothing is unique). So a
writer holds the follower's key (``bridge:inbound:follower:<account>:<openid>``, a lease
set with SET NX PX) while it writes: the live inbound batches (``jobs/batching.py``) and
the backfill (``connector/backfill``) take the same keys, so a follower who scans while
the backfill writes them is written by one of the two at a time, and the second finds the
person the first made.
"""

from __future__ import annotations

from redis import Redis

from connector.events import InboundEvent
from connector.locks import release_owned

PREFIX = "bridge:inbound:"
LEASE_MS = 120_000  # outlives any healthy batch; a dead writer's hold expires

# KEYS: follower keys; ARGV: owner, lease, the held:<job id> key (or ''). Takes each free
# one (noting it as the job's); answers the positions of those another owner holds.
_CLAIM_FOLLOWERS = """
local busy = {}
local held = ARGV[3]
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    if held ~= '' then redis.call('HSET', held, ARGV[4 + i - 1], ARGV[1]) end
  elseif redis.call('GET', k) ~= ARGV[1] then
    table.insert(busy, i)
  end
end
if held ~= '' then redis.call('PEXPIRE', held, ARGV[2]) end
return busy
"""


def follower_key(event: InboundEvent) -> str:
    """The Redis key a writer holds while it writes ``event``'s follower."""
    return f"{PREFIX}{follower_name(event)}"


def follower_name(event: InboundEvent) -> str:
    """The key without its prefix (what a job's ``held:`` hash notes)."""
    return f"follower:{event.account}:{event.openid}"


def claim_followers(redis: Redis, owner: str, events: dict[str, InboundEvent], *,
                    job_id: str = "") -> set[str]:
    """Hold the followers of ``events`` for ``owner`` (noted in ``held:<job_id>`` when
    given, so that a dead job's holds are dropped at once); the keys of the events whose
    follower another owner holds (their followers are not taken)."""
    keys = list(events)
    if not keys:
        return set()
    held = PREFIX + "held:" + job_id if job_id else ""
    busy = redis.register_script(_CLAIM_FOLLOWERS)(
        keys=[follower_key(events[k]) for k in keys],
        args=[owner, LEASE_MS, held, *[follower_name(events[k]) for k in keys]])
    return {keys[int(i) - 1] for i in busy}


def release_followers(redis: Redis, owner: str, events: dict[str, InboundEvent]) -> None:
    """Drop ``owner``'s hold on the followers of ``events``."""
    release_owned(redis, owner, {follower_key(e) for e in events.values()})

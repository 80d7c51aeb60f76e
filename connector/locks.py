"""Locks in Redis: one holder at a time, released (or extended) only by its holder.

Every lock of the bridge is redis-py's :class:`~redis.lock.Lock` — a token per holder,
compare-and-delete on release and compare-and-extend on refresh, both atomic in Lua —
made by :func:`lock` and held for a block by :func:`holding`. A lock outlives a holder
that died (its ``ttl`` frees it); a holder that outlived its ``ttl`` finds on release
that the lock is no longer its own, and leaves it alone.

Keys that the bridge sets to an owner's value without a lock object — the inbound
batch's claims on events, the worker's claim of an auto-reply — are dropped with
:func:`release_owned`: the same compare-and-delete, for many keys in one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock

log = logging.getLogger(__name__)

# KEYS: the keys; ARGV[1]: the owner's value. Deletes the keys still holding it.
_RELEASE_OWNED = """
local dropped = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    dropped = dropped + 1
  end
end
return dropped
"""


def lock(redis: Redis, name: str, *, ttl: float, wait: float | None = None) -> Lock:
    """The lock ``name`` with a lease of ``ttl`` seconds. ``acquire()`` returns at once
    (False when another holds it) unless ``wait`` gives seconds to wait for it."""
    return Lock(redis, name, timeout=ttl, blocking=wait is not None,
                blocking_timeout=wait, thread_local=False)


@contextmanager
def holding(redis: Redis, name: str, *, ttl: float, wait: float | None = None
            ) -> Iterator[bool]:
    """Hold the lock ``name`` for the block when it can be had: the block gets True, or
    False when another holder has it (the block decides what that means). On leaving,
    the lock is released if it is still ours."""
    held = lock(redis, name, ttl=ttl, wait=wait)
    acquired = held.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            release(held)


def release(held: Lock) -> None:
    """Release ``held``; a lock that expired (and may be another's now) is left alone."""
    try:
        held.release()
    except LockError:
        log.warning("lock %s outlived its lease before it was released; not released",
                    held.name)


def release_owned(redis: Redis, owner: str, keys: Iterable[str]) -> int:
    """Delete those of ``keys`` whose value is still ``owner``; how many were."""
    keys = list(keys)
    if not keys:
        return 0
    return int(redis.register_script(_RELEASE_OWNED)(keys=keys, args=[owner]))

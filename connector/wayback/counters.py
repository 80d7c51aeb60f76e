"""Counters of the way back, in one Redis hash, for ``connector sync status``.

Names: ``echoes`` (records whose last change was the bridge's own write, dropped),
``unchanged`` (records whose values were already synced), ``remarks``, ``tagged``,
``untagged``, ``tags_created`` (WeChat writes made), ``refused`` (writes WeChat's limits
or state kept from being made), ``notified`` (records named by Outbound Messages),
``polled`` (records found by the poll). Counting never fails a job: a Redis error is
logged.
"""

from __future__ import annotations

import logging

from redis import Redis, RedisError

log = logging.getLogger(__name__)

KEY = "bridge:changes:stats"


def count(redis: Redis, **increments: int) -> None:
    """Add to the counters (zero increments are skipped)."""
    wanted = {name: n for name, n in increments.items() if n}
    if not wanted:
        return
    try:
        with redis.pipeline(transaction=False) as pipe:
            for name, n in wanted.items():
                pipe.hincrby(KEY, name, n)
            pipe.execute()
    except RedisError as exc:
        log.warning("could not count %s: %s", ", ".join(wanted), exc)


def read(redis: Redis) -> dict[str, int]:
    """Every counter, by name."""
    return {k.decode(): int(v) for k, v in redis.hgetall(KEY).items()}

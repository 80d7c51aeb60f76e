"""Events the bridge acknowledged but did not write: kept in a Redis stream, with why,
for an operator to read and replay (``connector replay --unhandled``) once the mapping
or the configuration handles them.

An event is kept when the mapping has no rule for its kind, or when its Official Account
is not configured. The stream is capped at :data:`MAX_KEPT` entries (oldest dropped).
"""

from __future__ import annotations

import json
import logging

from redis import Redis

from connector.events import InboundEvent

log = logging.getLogger(__name__)

UNHANDLED = "bridge:unhandled"
MAX_KEPT = 100_000


def keep(redis: Redis, event: InboundEvent, reason: str) -> None:
    """Add ``event`` to the stream with ``reason``."""
    redis.xadd(UNHANDLED, {"key": event.dedupe_key, "kind": event.kind, "reason": reason,
                           "event": json.dumps(event.to_dict())},
               maxlen=MAX_KEPT, approximate=True)
    log.info("kept unhandled %s %s: %s", event.kind, event.dedupe_key, reason)


def count(redis: Redis) -> int:
    """How many events are kept."""
    return redis.xlen(UNHANDLED)

"""Which object a Salesforce record Id belongs to, from its key prefix.

The first three characters of a record Id name its object (``701`` Campaign, ``01t``
Product2, ``a0B`` a custom object the org numbered at deploy). The global describe
(``GET sobjects/``) lists every object's ``keyPrefix``; the map is kept in Redis for a
day, shared by every process, and read again once when a prefix is missing (an object
deployed since; at most once a minute).
"""

from __future__ import annotations

import logging

from redis import Redis

from connector.salesforce import SalesforceGateway

log = logging.getLogger(__name__)

KEY = "salesforce:key_prefixes"
TTL = 24 * 3600
# Read at most once a minute on a miss: a mistyped Id must not cost a describe each time.
FRESH_KEY, FRESH_SECONDS = KEY + ":fresh", 60


class UnknownPrefix(LookupError):
    """No object of the org has this key prefix."""


def object_of(record_id: str, salesforce: SalesforceGateway, redis: Redis) -> str:
    """The API name of the object ``record_id`` belongs to.

    Raises:
        UnknownPrefix: no object of the org has the Id's prefix.
        BridgeError: the describe failed (from the gateway).
    """
    prefix = record_id[:3]
    name = redis.hget(KEY, prefix)
    if name is None and redis.set(FRESH_KEY, 1, nx=True, ex=FRESH_SECONDS):
        try:
            name = _refresh(salesforce, redis).get(prefix)
        except BaseException:
            redis.delete(FRESH_KEY)  # not read after all: the next call may try
            raise
    if name is None:
        raise UnknownPrefix(f"no object of the org has Ids starting {prefix!r} "
                            f"({record_id}): check the record Id")
    return name.decode() if isinstance(name, bytes) else name


def _refresh(salesforce: SalesforceGateway, redis: Redis) -> dict[str, str]:
    described = salesforce.describe_global()
    prefixes = {o["keyPrefix"]: o["name"] for o in described.get("sobjects", [])
                if o.get("keyPrefix")}
    if prefixes:
        with redis.pipeline() as pipe:
            pipe.delete(KEY)
            pipe.hset(KEY, mapping=prefixes)
            pipe.expire(KEY, TTL)
            pipe.execute()
    log.info("read the key prefixes of %d objects", len(prefixes))
    return prefixes

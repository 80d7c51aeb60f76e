"""The bridge's counters, kept in Redis so that every process adds to the same ones.

Why Redis rather than prometheus-client's multiprocess mode: the bridge runs as a web
dyno and N worker dynos, each worker forking a fresh RQ work horse per job that exits
when the job ends. Multiprocess mode aggregates only the processes that share one
``PROMETHEUS_MULTIPROC_DIR`` on one machine, so the web dyno's ``/metrics`` would never
see the workers' dynos, and the directory (with every count) is lost when a dyno
restarts. A Redis hash is shared by all dynos, survives restarts (Heroku Redis is
persistent), and a count is one ``HINCRBY`` in a pipeline that the caller already pays
for. Counters therefore only ever go up (Prometheus' ``rate()`` handles the rare reset).

Families (one hash each, ``bridge:metrics:<family>``; a field is the label values joined
by ``|``, which no label value contains):

- ``pushes`` (outcome): WeChat callback pushes by how they were answered;
- ``ack`` (outcome, bucket): the callback's own time per push, cumulative histogram
  buckets ``le`` of :data:`ACK_BUCKETS` plus ``+Inf``, and ``sum`` (microseconds);
- ``jobs`` (queue kind, outcome): job runs by outcome;
- ``api_calls`` (system, verb, outcome): HTTP calls to Salesforce and WeChat.

And ``bridge:metrics:reached:<system>``: when a call to that system last got an answer
(epoch seconds), for ``/readyz``.

Counting never fails the work it counts: a Redis error is logged and the count lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis import Redis, RedisError
from redis.client import Pipeline

log = logging.getLogger(__name__)

PREFIX = "bridge:metrics:"
FAMILIES = ("pushes", "ack", "jobs", "api_calls")
REACHED = PREFIX + "reached:"
SYSTEMS = ("salesforce", "wechat")
# Seconds; the callback's own work is well under a millisecond, WeChat gives up at 5 s.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SEP = "|"


def _field(labels: Iterable[str]) -> str:
    return SEP.join(str(v).replace(SEP, "/") for v in labels)


def count(redis: Redis, family: str, *labels: str, n: int = 1) -> None:
    """Add ``n`` to the counter of ``family`` with these label values."""
    try:
        redis.hincrby(PREFIX + family, _field(labels), n)
    except RedisError as exc:
        log.warning("could not count %s %s: %s", family, labels, exc)


def observe_pushes(redis: Redis, pushes: Iterable[tuple[str, float]]) -> None:
    """Count callback pushes, each ``(outcome, seconds)``, and their times in the ack
    histogram, in one round trip.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable (the caller logs it: it runs
            off the request, in a thread of its own).
    """
    pushes_by: dict[str, int] = {}
    ack: dict[str, int] = {}
    for outcome, seconds in pushes:
        pushes_by[outcome] = pushes_by.get(outcome, 0) + 1
        names = [repr(b) for b in ACK_BUCKETS if seconds <= b] + ["+Inf"]
        for name in names:
            field = _field((outcome, name))
            ack[field] = ack.get(field, 0) + 1
        field = _field((outcome, "sum"))
        ack[field] = ack.get(field, 0) + int(seconds * 1e6)
    with redis.pipeline(transaction=False) as pipe:
        for outcome, n in pushes_by.items():
            pipe.hincrby(PREFIX + "pushes", outcome, n)
        for field, n in ack.items():
            pipe.hincrby(PREFIX + "ack", field, n)
        pipe.execute()


def record_call(redis: Redis, system: str, verb: str, status: int,
                outcome: str | None = None,
                also: Callable[[Pipeline], object] | None = None) -> None:
    """Count one answered HTTP call to ``system``; an answer below 500 also marks the
    system reached now. ``outcome`` defaults to ``ok``, ``client_error`` or
    ``server_error`` by the status (WeChat's gateway passes ``errcode_<n>`` for its
    refusals, which come with status 200: 45009 is a spent daily quota). (A call that
    got no answer is not counted here: the gateways log it, and the system's
    ``reached`` time stops moving.) ``also`` queues more commands on the same pipeline
    (the WeChat gateway's per-API quota count, ``connector/wechat_quotas.py``)."""
    if outcome is None:
        outcome = ("ok" if status < 400 else "client_error" if status < 500
                   else "server_error")
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(PREFIX + "api_calls", _field((system, verb, outcome)), 1)
            if status < 500:
                pipe.set(REACHED + system, repr(time.time()))
            if also is not None:
                also(pipe)
            pipe.execute()
    except RedisError as exc:
        log.warning("could not count a %s call: %s", system, exc)


def reached(redis: Redis) -> dict[str, float | None]:
    """When each system last answered a call (epoch seconds), None if never.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    values = redis.mget([REACHED + s for s in SYSTEMS])
    return {s: float(v) if v else None for s, v in zip(SYSTEMS, values, strict=True)}


def read(redis: Redis) -> dict[str, Any]:
    """Every family as ``{family: {label tuple: value}}`` (one round trip).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    with redis.pipeline(transaction=False) as pipe:
        for family in FAMILIES:
            pipe.hgetall(PREFIX + family)
        raw = pipe.execute()
    out: dict[str, Any] = {}
    for family, values in zip(FAMILIES, raw, strict=True):
        out[family] = {tuple(k.decode().split(SEP)): int(v) for k, v in values.items()}
    return out

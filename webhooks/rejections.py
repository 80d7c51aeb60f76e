"""Refused requests: one exception to raise, one handler that logs and keeps them.

Handlers raise :class:`Rejected` with a status (400, 403, 413) and a reason meant for an
operator. The handler installed by :func:`install` logs it (never the body or a secret),
appends a record to a capped Redis list (``bridge:rejected``, newest first) and answers
with a bare status phrase: the reason is for us, not for whoever sent the request.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "bridge:rejected"
CAP = 1000  # records kept; LTRIM keeps the list (and Redis memory) bounded under a flood
SAMPLE_BYTES = 256  # enough to recognise a payload, too little to hold a real body
FORWARDED_MAX = 200

PHRASES = {400: "bad request", 401: "unauthorized", 403: "forbidden",
           413: "payload too large"}


class Rejected(Exception):
    """Refuse the request with ``status``; ``reason`` goes to the log and the list."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RejectionLog:
    """The capped list of refused requests in Redis.

    Args:
        redis: the connection (bytes in and out).
        key: the list's key.
        cap: how many records to keep (the newest).
    """

    def __init__(self, redis: Redis, key: str = KEY, cap: int = CAP) -> None:
        self.redis = redis
        self.key = key
        self.cap = cap

    def record(self, entry: dict[str, Any]) -> None:
        """Prepend ``entry`` (JSON-safe) and trim to the cap, in one round trip.

        Raises:
            redis.exceptions.RedisError: Redis is unreachable.
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.key, json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(self.key, 0, self.cap - 1)
        pipe.execute()

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` records, newest first."""
        return [json.loads(raw) for raw in self.redis.lrange(self.key, 0, limit - 1)]

    def count(self) -> int:
        """How many records the list holds (at most ``cap``)."""
        return int(self.redis.llen(self.key))


def body_sample(request: Request) -> bytes:
    """What the callback stored of the body in ``request.state`` (empty if nothing)."""
    return getattr(request.state, "body_sample", b"")


def logged_path(request: Request) -> str:
    """The request's path as logged, each path parameter replaced by its name
    (``/salesforce/outbound/{secret}``: the secret is never logged or kept)."""
    path = request.url.path
    for name, value in request.path_params.items():
        if value:
            path = path.replace(str(value), "{" + name + "}")
    return path


def describe(request: Request, exc: Rejected) -> dict[str, Any]:
    """The record kept for a refused request (no query string: it carries signatures;
    no path parameter: it may be a secret)."""
    sample = body_sample(request)
    return {
        "time": round(time.time(), 3),
        "status": exc.status,
        "reason": exc.reason,
        "method": request.method,
        "path": logged_path(request),
        "remote": request.client.host if request.client else None,
        # Heroku's router appends the caller's address; kept as sent, for an operator.
        "forwarded_for": (request.headers.get("x-forwarded-for") or "")[:FORWARDED_MAX] or None,
        "sample": sample[:SAMPLE_BYTES].decode("utf-8", "replace"),
    }


def install(app: FastAPI, rejections: RejectionLog) -> None:
    """Route every :class:`Rejected` raised in ``app`` through the log and the list."""

    # A plain def: Starlette runs it in the threadpool, so the Redis write never blocks
    # the event loop (body-size rejections are raised from an async dependency).
    def handle(request: Request, exc: Rejected) -> PlainTextResponse:
        entry = describe(request, exc)
        log.warning(
            "rejected %s %s from %s with %d: %s",
            entry["method"], entry["path"], entry["remote"], exc.status, exc.reason,
        )
        try:
            rejections.record(entry)
        except RedisError as err:
            # The refusal stands; losing its record is better than answering 500.
            log.error("could not record a rejection in Redis: %s", err)
        # RFC 6750: a 401 names the scheme it wants.
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return PlainTextResponse(PHRASES.get(exc.status, "rejected"), status_code=exc.status,
                                 headers=headers)

    app.add_exception_handler(Rejected, handle)

"""``/healthz`` (liveness: can we reach Redis?), ``/readyz`` (readiness: Redis, and
whether Salesforce and WeChat answered lately) and ``/status`` (queue and refusal counts,
for operators only).

``/readyz`` is open too and answers 200 whenever Redis answers a PING (the web process
can take pushes: the workers reach the APIs, and wait out their absence), 503 when it
does not. Its JSON body says, per system, when a call last got an answer (any process:
``connector/metrics.py`` keeps the time in Redis) and whether that is within
:data:`RECENT_SECONDS`; ``null`` when none ever did. Times and yes/no only: nothing a
stranger could use.

``/healthz`` is open (an uptime monitor calls it without credentials) and says nothing
but ``ok`` or ``unavailable``. ``/status`` needs ``Authorization: Bearer <ADMIN_TOKEN>``
(compared in constant time); without ``ADMIN_TOKEN`` configured it is refused to
everyone. It shows counts, never a queued event or a refused request's contents (those
are for the CLI, ``connector status``, run where the operator holds the Redis URL).

Both are plain ``def``: each makes blocking Redis round trips, so they run in the
threadpool, bounded by the web client's timeouts.
"""

from __future__ import annotations

import hmac
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis import Redis
from redis.exceptions import RedisError

from connector import metrics
from connector.settings import Settings
from jobs.queues import INBOUND, inbound_queue
from webhooks.rejections import Rejected, RejectionLog

log = logging.getLogger(__name__)

# A system answered "lately" within this many seconds. The clock polls Salesforce every
# POLL_INTERVAL_SECONDS (60 s by default) and the workers call WeChat at each event, so a
# quiet bridge still talks to Salesforce within minutes; WeChat may stay silent longer.
RECENT_SECONDS = 900


def check_bearer(expected: str | None, authorization: str | None) -> None:
    """Refuse a request without ``Authorization: Bearer <expected>``.

    Raises:
        Rejected: 403 when no token is configured; 401 without the token or with another.
    """
    if expected is None:
        raise Rejected(403, "admin route refused: ADMIN_TOKEN is not set")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Rejected(401, "admin route without a bearer token")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Rejected(401, "admin route with a wrong bearer token")


def build_router(settings: Settings, redis: Redis, rejections: RejectionLog) -> APIRouter:
    """The health and status routes, bound to the settings and one Redis connection."""
    router = APIRouter()
    queue = inbound_queue(redis)
    admin = settings.ADMIN_TOKEN
    admin_token = admin.get_secret_value().strip() if admin is not None else None

    @router.get("/healthz")
    def healthz() -> JSONResponse:
        """200 ``{"status": "ok"}`` when Redis answers a PING, else 503."""
        try:
            redis.ping()
        except RedisError as exc:
            log.error("health check: Redis unavailable: %s", exc)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        """200 with ``{"status": "ok", "redis": "ok", "salesforce": {...}, "wechat":
        {...}}`` when Redis answers, else 503 ``{"status": "unavailable", "redis":
        "unavailable"}``; each system: ``last_answer`` (epoch seconds or null),
        ``age_seconds`` and ``recent`` (answered within :data:`RECENT_SECONDS`)."""
        try:
            redis.ping()
            reached = metrics.reached(redis)
        except RedisError as exc:
            log.error("readiness check: Redis unavailable: %s", exc)
            return JSONResponse({"status": "unavailable", "redis": "unavailable"},
                                status_code=503)
        now = time.time()
        body: dict[str, object] = {"status": "ok", "redis": "ok"}
        for system, at in reached.items():
            age = None if at is None else round(max(0.0, now - at), 1)
            body[system] = {"last_answer": at, "age_seconds": age,
                            "recent": age is not None and age <= RECENT_SECONDS}
        return JSONResponse(body)

    @router.get("/status")
    def status(request: Request) -> JSONResponse:
        """Queue length, failed jobs and refused requests; 503 when Redis is down.

        Raises:
            Rejected: 401/403 without the admin bearer token (:func:`check_bearer`).
        """
        check_bearer(admin_token, request.headers.get("authorization"))
        try:
            body = {
                "queue": INBOUND,
                "queued": queue.count,
                "failed": queue.failed_job_registry.count,
                "rejected": rejections.count(),
            }
        except RedisError as exc:
            log.error("status: Redis unavailable: %s", exc)
            return JSONResponse({"status": "redis unavailable"}, status_code=503)
        return JSONResponse(body)

    return router

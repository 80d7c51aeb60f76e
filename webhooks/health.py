"""``/healthz`` (liveness: can we reach Redis?) and ``/status`` (queue and refusal counts,
for operators only).

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

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis import Redis
from redis.exceptions import RedisError

from connector.settings import Settings
from jobs.queues import INBOUND, inbound_queue
from webhooks.rejections import Rejected, RejectionLog

log = logging.getLogger(__name__)


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

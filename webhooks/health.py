"""``/healthz`` (liveness: can we reach Redis?) and ``/status`` (queue and refusal counts).

Both are plain ``def``: each makes blocking Redis round trips, so they run in the
threadpool. Neither shows event contents, so they need no authentication.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis import Redis
from redis.exceptions import RedisError

from jobs.queues import INBOUND, inbound_queue
from webhooks.rejections import RejectionLog

log = logging.getLogger(__name__)


def build_router(redis: Redis, rejections: RejectionLog) -> APIRouter:
    """The health and status routes, bound to one Redis connection."""
    router = APIRouter()
    queue = inbound_queue(redis)

    @router.get("/healthz")
    def healthz() -> JSONResponse:
        """200 ``{"status": "ok"}`` when Redis answers a PING, else 503."""
        try:
            redis.ping()
        except RedisError as exc:
            log.error("health check: Redis unavailable: %s", exc)
            return JSONResponse({"status": "redis unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @router.get("/status")
    def status() -> JSONResponse:
        """Queue length, failed jobs and refused requests; 503 when Redis is down."""
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

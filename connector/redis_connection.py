"""One Redis connection per process: the configured server, or an embedded one.

With ``REDIS_URL`` (or Heroku's ``REDIS_TLS_URL``) set, that server is used. Without it,
the project's embedded Redis (``connector/embedded_redis.py``, one per state folder, shared
by every command) is used, started if need be, and its URL is exported as ``REDIS_URL``
so child processes (web, worker) use the same server.
"""

from __future__ import annotations

import logging
import os
import ssl

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from connector.embedded_redis import ensure_running, server_executable  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

# Every client gives up on a Redis that does not answer, rather than hang its process:
# a TCP connect within CONNECT_TIMEOUT, each reply within SOCKET_TIMEOUT (a Redis command
# takes microseconds; a blocking one, like rq's BLPOP, needs its client to allow longer:
# rq's worker raises its own connection's socket timeout above its dequeue timeout). A
# failed command is retried RETRIES times on a fresh connection (a Redis that restarted
# closed the pooled ones), a few milliseconds apart. redis-py's default is 10 retries,
# which turns an outage into a hang of up to a minute per call.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 10.0
RETRIES = 2


def redis_url_from_env(*, start: bool = True) -> str:
    """The Redis URL from the environment, starting an embedded server if none is set."""
    url = os.environ.get("REDIS_TLS_URL") or os.environ.get("REDIS_URL")
    if url:
        return url
    if not start:
        raise RuntimeError("REDIS_URL is not set")
    url = ensure_running()
    os.environ["REDIS_URL"] = url
    return url


def connect(url: str | None = None, *, connect_timeout: float = CONNECT_TIMEOUT,
            socket_timeout: float = SOCKET_TIMEOUT, retries: int = RETRIES) -> redis.Redis:
    """A client for ``url`` (default: from the environment), bytes in and out, that
    never waits for Redis longer than its timeouts (see ``CONNECT_TIMEOUT``).

    A call while Redis is away raises ``redis.exceptions.ConnectionError`` (or
    ``TimeoutError``) after at most about ``(retries + 1) * (connect_timeout +
    socket_timeout)``; the client reconnects by itself on the next call once Redis is back.
    Heroku Redis presents a self-signed certificate on ``rediss://``, so certificate
    verification is relaxed for that scheme only, as Heroku documents.
    """
    url = url or redis_url_from_env()
    kwargs: dict = {
        "health_check_interval": 30,
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
        "retry": Retry(ExponentialWithJitterBackoff(cap=0.1, base=0.01), retries),
    }
    if url.startswith("rediss://"):
        kwargs["ssl_cert_reqs"] = ssl.CERT_NONE
    return redis.Redis.from_url(url, **kwargs)


def reconnect_delay(failures: int, *, cap: float = 30.0) -> float:
    """Seconds a process waits before its ``failures``-th attempt to reach Redis again:
    doubling from 0.5 s up to ``cap``, with jitter (many workers do not retry at once)."""
    return ExponentialWithJitterBackoff(cap=cap, base=0.5).compute(max(0, failures)) + 0.25

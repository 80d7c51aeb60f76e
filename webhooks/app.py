"""The web process: WeChat's callback, health, status and metrics, and the console
(/console).

Run it with ``uvicorn webhooks.app:create_app --factory``. Everything per-app (settings,
the Redis connection, each account's AES cipher) is built here once, never per request
and never at import time.
"""

from __future__ import annotations

from fastapi import FastAPI
from redis import Redis

from connector import logs
from connector.redis_connection import connect
from connector.replies.passive import Replier, replier_for
from connector.settings import Settings, get_settings
from webhooks import health, metrics, rejections, salesforce_outbound, wechat_callback
from webhooks.blocking import OffLoop
from webhooks.console import routes as console
from webhooks.wechat_callback import CallbackConfig

# The web process's Redis client gives up fast (connector.redis_connection.connect): a
# push waits for Redis within WeChat's 5 s or is answered 503 (webhooks/blocking.py).
CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 1.0
RETRIES = 1


def create_app(
    settings: Settings | None = None,
    redis: Redis | None = None,
    *,
    reply: Replier | None = None,
) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: default :func:`connector.settings.get_settings`.
        redis: default :func:`connector.redis_connection.connect` to the configured URL,
            with this module's short timeouts.
        reply: the passive-reply seam (see :data:`connector.replies.passive.Replier`);
            default: the campaign auto-replies of the mapping in ``MAPPING_FILE``
            (:func:`connector.replies.passive.replier_for`, loaded once here), or ``success``
            for every push when it has no ``replies:``.

    Raises:
        connector.settings.SettingsError: configuration missing or malformed.
    """
    settings = settings or get_settings()
    # With WEB_CONCURRENCY > 1 uvicorn spawns fresh processes that build the app here and
    # never ran the CLI's set-up: each sets up its own (nothing where logging is set up).
    logs.ensure(settings.LOG_LEVEL)
    if redis is None:
        redis = connect(settings.redis_url, connect_timeout=CONNECT_TIMEOUT,
                        socket_timeout=SOCKET_TIMEOUT, retries=RETRIES)
    # No interactive docs or schema: the app faces the internet and serves machines.
    app = FastAPI(title="WeChat-Salesforce bridge", docs_url=None, redoc_url=None,
                  openapi_url=None)
    rejection_log = rejections.RejectionLog(redis)
    rejections.install(app, rejection_log)
    configs = CallbackConfig.all_from_settings(settings)
    if reply is None:
        reply = replier_for(settings.MAPPING_FILE, redis)
    off_loop = OffLoop()
    recorder = metrics.PushRecorder(redis)
    app.include_router(wechat_callback.build_router(configs, redis, reply, off_loop,
                                                    recorder=recorder))
    app.include_router(salesforce_outbound.build_router(settings, redis, off_loop))
    app.include_router(health.build_router(settings, redis, rejection_log))
    app.include_router(metrics.build_router(settings, redis, recorder))
    console.install(app, settings, redis)
    app.state.redis = redis
    app.state.rejections = rejection_log
    return app

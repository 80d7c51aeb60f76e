"""Mount the console on the web app: its session cookie, templates and routes.

The session is starlette's ``SessionMiddleware``: a cookie signed with itsdangerous
(``CONSOLE_SECRET_KEY``, else a key derived from ``ADMIN_TOKEN``), ``HttpOnly``,
``SameSite=Lax``, ``Secure`` unless ``CONSOLE_BASE_URL`` is plain http (a laptop), limited
to ``/console`` and to 8 hours. Without either secret the console is not mounted, and
``/console`` says which config var to set.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from redis import Redis
from starlette.middleware.sessions import SessionMiddleware
from starlette.templating import Jinja2Templates

from connector.settings import Settings
from webhooks.console import pages, signin

if TYPE_CHECKING:  # the Salesforce client loads on first use, not with the web app
    from connector.salesforce import SalesforceGateway

SESSION_SECONDS = 8 * 3600
COOKIE = "bridge_console"
TEMPLATES = Path(__file__).with_name("templates")


def minute(epoch: float) -> str:
    """``2026-12-04 13:05`` (UTC), for the pages' times."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def session_key(settings: Settings) -> str | None:
    """The key that signs the session cookie, or None when no secret is configured."""
    if settings.CONSOLE_SECRET_KEY is not None:
        return settings.CONSOLE_SECRET_KEY.get_secret_value()
    if settings.ADMIN_TOKEN is not None:
        # a key of its own: a cookie signature says nothing about the bearer token
        return hmac.new(settings.ADMIN_TOKEN.get_secret_value().encode(),
                        b"bridge console session", hashlib.sha256).hexdigest()
    return None


def shared_gateway(settings: Settings, redis: Redis) -> Callable[[], SalesforceGateway]:
    """The bridge's Salesforce gateway, made on first use (logging in then, not at start)
    and shared by the console's requests (its session is shared through Redis, too)."""
    made: list[SalesforceGateway] = []
    lock = threading.Lock()

    def get() -> SalesforceGateway:
        from connector.salesforce import SalesforceGateway, SessionStore

        with lock:
            if not made:
                made.append(SalesforceGateway(settings, sessions=SessionStore(
                    redis, settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_USERNAME)))
            return made[0]

    return get


def install(app: FastAPI, settings: Settings, redis: Redis) -> None:
    """Add the console to ``app`` (or, without a session secret, a page saying why not)."""
    key = session_key(settings)
    if key is None:
        @app.get("/console")
        def console_off() -> PlainTextResponse:
            return PlainTextResponse("The console is off: set CONSOLE_SECRET_KEY (at least "
                                     "32 characters) or ADMIN_TOKEN.", status_code=503)
        return
    base = settings.CONSOLE_BASE_URL or ""
    app.add_middleware(SessionMiddleware, secret_key=key, session_cookie=COOKIE,
                       max_age=SESSION_SECONDS, path="/console", same_site="lax",
                       https_only=not base.startswith("http://"))
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["minute"] = minute
    gateway = shared_gateway(settings, redis)
    app.include_router(signin.build_router(settings, templates, gateway))
    app.include_router(pages.build_router(settings, redis, templates, gateway))

"""Signing in to the console with Salesforce (OAuth 2.0 web-server flow, PKCE S256).

``GET /console/login`` shows the sign-in page; ``GET /console/login/salesforce`` keeps a
fresh ``state`` and PKCE verifier in the session and sends the browser to Salesforce;
Salesforce sends it back to ``GET /console/oauth/callback`` with a code, which is traded
with the verifier (``connector/salesforce/web_login.py``). The person is let in only when
the state matches (constant time), the user belongs to the bridge's own org, and holds the
admin permission set (``CONSOLE_PERMISSION_SET``). ``POST /console/logout`` (CSRF-checked)
ends the session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.templating import Jinja2Templates

from connector.errors import BridgeError
from connector.ids import same_id
from connector.settings import Settings
from webhooks.console import csrf

if TYPE_CHECKING:  # the Salesforce client loads on the first sign-in, not with the app
    from connector.salesforce import SalesforceGateway
    from connector.salesforce.web_login import Person

log = logging.getLogger(__name__)

PERSON, SIGNIN = "person", "signin"
CALLBACK = "/console/oauth/callback"


def pkce_pair() -> tuple[str, str]:
    """A fresh code verifier (43 characters of base64url) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def callback_url(settings: Settings, request: Request) -> str:
    """The redirect URI: ``CONSOLE_BASE_URL`` + the callback path, else this request's
    own origin (it must be listed, exactly, as the Connected App's Callback URL)."""
    base = settings.CONSOLE_BASE_URL or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + CALLBACK


def signed_in(request: Request) -> dict[str, Any] | None:
    """The person of this session, or None."""
    return request.session.get(PERSON)


def build_router(settings: Settings, templates: Jinja2Templates,
                 gateway: Callable[[], SalesforceGateway]) -> APIRouter:
    """The sign-in routes; ``gateway``: the bridge's own Salesforce session (made once)."""
    router = APIRouter()

    def page(request: Request, problem: str | None = None, status: int = 200) -> Response:
        return templates.TemplateResponse(request, "login.html", {
            "problem": problem, "permission_set": settings.CONSOLE_PERMISSION_SET,
            "csrf": csrf.token(request.session), "person": None}, status_code=status)

    @router.get("/console/login")
    def login(request: Request) -> Response:
        return page(request)

    @router.get("/console/login/salesforce")
    def to_salesforce(request: Request) -> Response:
        from connector.salesforce.web_login import authorize_url

        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        request.session[SIGNIN] = {"state": state, "verifier": verifier}
        return RedirectResponse(authorize_url(
            settings, redirect_uri=callback_url(settings, request), state=state,
            code_challenge=challenge), status_code=302)

    @router.get(CALLBACK)
    def callback(request: Request) -> Response:
        from connector.salesforce.web_login import exchange_code

        pending = request.session.pop(SIGNIN, None)
        params = request.query_params
        if params.get("error"):
            return page(request, f"Salesforce did not sign you in: "
                                 f"{params.get('error_description') or params['error']}", 400)
        state = params.get("state", "")
        if pending is None or not hmac.compare_digest(state.encode(),
                                                      pending["state"].encode()):
            return page(request, "This sign-in was not started here, or has been used "
                                 "already; sign in again.", 400)
        try:
            person = exchange_code(settings, code=params.get("code", ""),
                                   code_verifier=pending["verifier"],
                                   redirect_uri=callback_url(settings, request))
            problem = refusal(settings, gateway(), person)
        except BridgeError as error:
            log.warning("console sign-in failed: %s", error)
            return page(request, f"Sign-in failed: {error.message}", 400)
        if problem is not None:
            log.warning("console sign-in refused for %s: %s", person.username, problem)
            return page(request, problem, 403)
        request.session.clear()
        request.session[PERSON] = {"user_id": person.user_id, "name": person.name,
                                   "username": person.username}
        csrf.token(request.session)
        log.info("console: %s signed in", person.username)
        return RedirectResponse("/console", status_code=303)

    @router.post("/console/logout")
    async def logout(request: Request) -> Response:
        form = await read_form(request)
        try:
            csrf.check(request.session, form.get("csrf"))
        except csrf.CsrfRefused as refused:
            return Response(str(refused), status_code=403, media_type="text/plain")
        request.session.clear()
        return RedirectResponse("/console/login", status_code=303)

    return router


def refusal(settings: Settings, gateway: SalesforceGateway, person: Person) -> str | None:
    """Why ``person`` may not use the console, or None when they may.

    Raises:
        BridgeError: the bridge could not ask Salesforce.
    """
    from connector.salesforce.web_login import holds_permission_set

    own_org = gateway.identity().org_id
    if not same_id(person.org_id, own_org):
        return (f"{person.username} belongs to another Salesforce org; sign in with a user "
                f"of the org the bridge writes to.")
    if not holds_permission_set(gateway, person.user_id, settings.CONSOLE_PERMISSION_SET):
        return (f"{person.username} does not hold the permission set "
                f"{settings.CONSOLE_PERMISSION_SET}; an admin assigns it in Setup > Users > "
                f"Permission Set Assignments.")
    return None


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the console's only kind), capped."""
    from urllib.parse import parse_qsl

    body = await request.body()
    if len(body) > 256 * 1024:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in the threadpool (Redis and Salesforce calls block)."""
    return await run_in_threadpool(fn, *args)

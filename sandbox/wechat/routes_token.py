"""``cgi-bin/token`` and ``cgi-bin/stable_token``: credentials checked as WeChat does."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request

from sandbox.wechat.errors import ApiError
from sandbox.wechat.ip_whitelist import IpWhitelist
from sandbox.wechat.routing import json_body
from sandbox.wechat.tokens import TokenStore


def check_credentials(grant_type: str | None, appid: str | None, secret: str | None, *,
                      app_id: str, app_secret: str) -> None:
    """WeChat's order of checks: grant type, appid present, secret present, appid, secret.

    Raises:
        ApiError: 40002, 41002, 41004, 40013 (unknown appid), 40125 (wrong secret).
    """
    if grant_type != "client_credential":
        raise ApiError(40002)
    if not appid:
        raise ApiError(41002)
    if not secret:
        raise ApiError(41004)
    if not hmac.compare_digest(appid.encode(), app_id.encode()):
        raise ApiError(40013)
    if not hmac.compare_digest(secret.encode(), app_secret.encode()):
        raise ApiError(40125)


def token_router(tokens: TokenStore, whitelist: IpWhitelist, *, app_id: str,
                 app_secret: str) -> APIRouter:
    """The two token endpoints. The caller's address is checked after its credentials, as
    WeChat does (a wrong secret from anywhere answers 40125, not 40164)."""
    router = APIRouter(prefix="/cgi-bin")

    def client_ip(request: Request) -> str | None:
        return request.client.host if request.client else None

    @router.get("/token")
    def token(request: Request, grant_type: str | None = None, appid: str | None = None,
              secret: str | None = None) -> dict:
        check_credentials(grant_type, appid, secret, app_id=app_id, app_secret=app_secret)
        whitelist.check(client_ip(request))
        value, expires_in = tokens.issue()
        return {"access_token": value, "expires_in": expires_in}

    @router.post("/stable_token")
    async def stable_token(request: Request) -> dict:
        data = await json_body(request)
        check_credentials(data.get("grant_type"), data.get("appid"), data.get("secret"),
                          app_id=app_id, app_secret=app_secret)
        whitelist.check(client_ip(request))
        force = data.get("force_refresh", False)
        if not isinstance(force, bool):
            raise ApiError(47001)
        value, expires_in = tokens.stable(force_refresh=force)
        return {"access_token": value, "expires_in": expires_in}

    return router

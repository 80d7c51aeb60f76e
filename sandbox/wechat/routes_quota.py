"""``openapi/quota/get`` and ``clear_quota`` (the rules and their sources: quotas.py)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request

from sandbox.wechat.errors import ApiError, ok
from sandbox.wechat.quotas import DailyQuotas
from sandbox.wechat.routing import json_body


def quota_router(quotas: DailyQuotas, *, app_id: str) -> APIRouter:
    router = APIRouter(prefix="/cgi-bin")

    @router.post("/openapi/quota/get")
    async def quota_get(request: Request) -> dict:
        path = (await json_body(request)).get("cgi_path")
        if not isinstance(path, str) or not path:
            raise ApiError(47001)
        return ok(quota=quotas.quota(path))

    @router.post("/clear_quota")
    async def clear_quota(request: Request) -> dict:
        appid = (await json_body(request)).get("appid")
        if not isinstance(appid, str) or not appid:
            raise ApiError(41002)
        if not hmac.compare_digest(appid.encode(), app_id.encode()):
            raise ApiError(40013)
        quotas.clear()
        return ok()

    return router

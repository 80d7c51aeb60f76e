"""Request parsing shared by the API routers, failing the way WeChat fails."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from sandbox.wechat.errors import ApiError


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object a POST carries. Raises: ApiError 44002 (empty), 47001 (not JSON)."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(44002)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(47001, f"data format error hint: [{type(exc).__name__}]") from exc
    if not isinstance(data, dict):
        raise ApiError(47001)
    return data


def openid_list(value: Any, *, limit: int, minimum: int = 1, short_code: int = 40032
                ) -> list[str]:
    """A list of openid strings of ``minimum``..``limit`` items.

    Raises:
        ApiError: 47001 not a list of strings; ``short_code`` below ``minimum``;
            40032 above ``limit``.
    """
    if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
        raise ApiError(47001)
    if len(value) < minimum:
        raise ApiError(short_code)
    if len(value) > limit:
        raise ApiError(40032)
    return value


def integer(value: Any, code: int) -> int:
    """An integer field (WeChat accepts numeric strings too). Raises: ApiError(code)."""
    if isinstance(value, bool):
        raise ApiError(code)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(code) from exc

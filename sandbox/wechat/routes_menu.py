"""The custom menu API: ``menu/create``, ``menu/get``, ``menu/delete``,
``menu/addconditional``, ``menu/delconditional``, ``menu/trymatch`` and
``get_current_selfmenu_info``; the rules and their sources are in ``menus.py``.

``menu/get``, ``menu/delete`` and ``get_current_selfmenu_info`` are GETs, the others POST
a JSON body (https://developers.weixin.qq.com/doc/service/api/custommenu/ pages).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from sandbox.wechat.errors import ok
from sandbox.wechat.menus import Menus
from sandbox.wechat.routing import json_body


def menu_router(menus: Menus) -> APIRouter:
    router = APIRouter(prefix="/cgi-bin")

    @router.post("/menu/create")
    async def create(request: Request) -> dict:
        menus.create(await json_body(request))
        return ok()

    @router.get("/menu/get")
    def get() -> dict:
        return menus.get()

    @router.get("/menu/delete")
    def delete() -> dict:
        menus.delete()
        return ok()

    @router.post("/menu/addconditional")
    async def add_conditional(request: Request) -> dict:
        return {"menuid": menus.add_conditional(await json_body(request))}

    @router.post("/menu/delconditional")
    async def del_conditional(request: Request) -> dict:
        menus.delete_conditional((await json_body(request)).get("menuid"))
        return ok()

    @router.post("/menu/trymatch")
    async def try_match(request: Request) -> dict:
        return menus.try_match((await json_body(request)).get("user_id"))

    @router.get("/get_current_selfmenu_info")
    def selfmenu_info() -> dict:
        return menus.selfmenu_info()

    return router
